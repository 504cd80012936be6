-- gatelog policy: Elasticsearch (or OpenSearch) through the _bulk API,
-- one "create" per record with _id = instanceId:sessionId (the gateway's
-- instance id, see the instance_id option), so that a batch sent again,
-- after a retry or a crash, cannot index a record twice, and two gateways'
-- records never share an _id.
--
-- Environment (docs/scripts.md has them all, with the shared ones):
--   GATELOG_URL    default http://127.0.0.1:9200; a base URL gets /_bulk
--   GATELOG_INDEX  an index or a data stream (default "gatelog")
--   GATELOG_GZIP   Content-Encoding: gzip (default off; Elasticsearch accepts it)
--   GATELOG_AUTH   the Authorization header, e.g. "ApiKey ..." (default none)
--   GATELOG_CA_FILE, GATELOG_TIMEOUT, GATELOG_HEADERS,
--   GATELOG_FLUSH_INTERVAL (default 2 s), GATELOG_BATCH_MAX (default 500)
--
-- _bulk answers 200 even when items failed: the answer is read item by
-- item. Created (201) and already there (409, a retry) count as
-- delivered; items whose status can pass (http.classify's retries: 429,
-- 5xx, a 403 read-only block, a 404 missing index) retry the batch (the
-- ones already created then answer 409); other failures are logged, and
-- drop the batch for good if no item of it was created.
local core = require "gatelog.core"
local cjson = require "cjson.safe"
local env = require "gatelog.env"
local http = require "gatelog.transport.http"

local function check(res, done)
  local answer = cjson.decode(res.body)
  if type(answer) ~= "table" then return done(false, "elasticsearch: unreadable _bulk answer") end
  if not answer.errors then return done(true) end
  local retry, failed, first = 0, 0, nil
  local items = answer.items or {}
  for _, item in ipairs(items) do
    local r = item.create or item.index or {}
    local st = tonumber(r.status) or 0
    if st >= 300 and st ~= 409 and http.classify(st) == "retry" then
      retry = retry + 1
    elseif st >= 300 and st ~= 409 then
      failed = failed + 1
      first = first or (type(r.error) == "table" and ((r.error.type or "?") .. ": " .. tostring(r.error.reason)) or tostring(st))
    end
  end
  if retry > 0 then return done(false, ("elasticsearch: %d items to retry"):format(retry)) end
  if failed == 0 then return done(true) end
  local why = ("elasticsearch rejected %d of %d records: %s"):format(failed, #items, first)
  if failed == #items then return done(false, why, { permanent = true }) end
  core.log("warn", why)
  done(true)
end

local settings = env.http{ url = "http://127.0.0.1:9200", path = "/_bulk", gzip = false }
settings.codec = "elasticsearch"
settings.codec_options = { index = env.string("GATELOG_INDEX", "gatelog") }
settings.check = check
-- The body built in C on gatelog's threads (the Lua codec's bytes): docs/codecs-in-c.md.
settings.codec = require("gatelog.codec.native").new(settings.codec, settings.codec_options)

return {
  config = env.core{ flush_interval = 2, batch_max = 500 },
  send = http.new(settings),
}
