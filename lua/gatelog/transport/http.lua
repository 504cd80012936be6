-- The http transport: each batch encoded by a codec and POSTed, with
-- optional gzip, headers and an Authorization header, and the answer
-- classified:
--   2xx                       delivered: done(true)
--   anything that can pass    retried: done(false, err), waiting at least
--   without the batch         what Retry-After says (seconds or an HTTP
--   changing: 408, 425, 429,  date; at most an hour) when it says it
--   5xx, a 3xx not followed,
--   401, 403, 404 (a setting
--   being fixed), timeouts,
--   connection errors (a reset,
--   a redirect loop)
--   other 4xx (400, 413, 422  permanent: done(false, err, { permanent = true }):
--   ...: this batch is        the batch is dropped, counted in
--   refused as it is)         batches_rejected, logged with the status and
--                             the start of the response body
--
--   local http = require "gatelog.transport.http"
--   send = http.new{
--     url = "https://collector:4318/v1/logs", codec = "otlp",
--     codec_options = { service_name = "gateway" },
--     gzip = true,                                  -- Content-Encoding: gzip
--     headers = { ["X-Scope-OrgID"] = "tenant-1" },
--     auth = "Bearer " .. os.getenv("TOKEN"),       -- the Authorization header
--     timeout = 30, ca = "/etc/ssl/collector-ca.pem", proxy = nil, follow = false,
--     check = function(res) return true end,        -- optional: judge a 2xx body
--   }
--
-- Every request carries X-Gatelog-Batch: batch.id (the same on every retry
-- of a batch), so a receiver can drop a repeat.
local core = require "gatelog.core"
local codecs = require "gatelog.codec"
local record = require "gatelog.record"

local M = {}

M.RETRY_AFTER_MAX = 3600

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds to wait from a Retry-After value: delta-seconds, or an
-- IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") taken against now (seconds
-- since the epoch). nil for no or an unreadable value; at most an hour, so
-- that a wrong header cannot stall delivery for days.
function M.retry_after(value, now)
  if type(value) ~= "string" then return nil end
  local secs = tonumber(value:match("^%s*(%d+)%s*$"))
  if not secs then
    local d, mon, y, h, mi, s = value:match("^%s*%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
    if not d or not MONTHS[mon] then return nil end
    local at = record.days_from_civil(tonumber(y), MONTHS[mon], tonumber(d)) * 86400 +
      tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
    secs = at - (now or core.now())
  end
  if secs < 0 then secs = 0 end
  if secs > M.RETRY_AFTER_MAX then secs = M.RETRY_AFTER_MAX end
  return secs
end

-- Statuses that say nothing against the batch itself: the same batch can
-- pass later (a busy or restarting collector, a redirect, credentials or a
-- route being fixed; a reload with the right setting then delivers what
-- waited). Dropping on them would lose records to a passing fault.
local TRANSIENT = { [401] = true, [403] = true, [404] = true, [408] = true, [425] = true,
  [429] = true }

-- What the status says: "ok", "retry" or "permanent".
function M.classify(status)
  if status >= 200 and status < 300 then return "ok" end
  if status < 400 or status >= 500 or TRANSIENT[status] then return "retry" end
  return "permanent"
end

local function snippet(body)
  body = (body or ""):gsub("%s+", " ")
  if #body > 200 then body = body:sub(1, 200) .. "..." end
  return body
end

function M.new(s)
  assert(type(s.url) == "string", "http transport: url is required")
  local codec = codecs.get(s.codec or "ndjson")
  local base = { ["Content-Type"] = s.content_type or codec.content_type }
  for k, v in pairs(s.headers or {}) do base[k] = v end
  if s.auth then base.Authorization = s.auth end

  local function answer(res, err, done)
    if not res then return done(false, err) end
    local kind = M.classify(res.status)
    local why = "HTTP " .. res.status .. " from " .. s.url .. ": " .. snippet(res.body)
    if res.status >= 300 and res.status < 400 then why = why .. " (a redirect: follow = true follows it)" end
    if kind == "ok" then
      if s.check then return s.check(res, done) end
      return done(true)
    end
    if kind == "retry" then
      return done(false, why, { retry_after = M.retry_after(res.headers["retry-after"]) })
    end
    done(false, why, { permanent = true })
  end

  local function post(batch, body, gzipped, done)
    local headers = { ["X-Gatelog-Batch"] = batch.id }
    for k, v in pairs(base) do headers[k] = v end
    if gzipped then headers["Content-Encoding"] = "gzip" end
    core.http.request({ method = s.method or "POST", url = s.url, headers = headers, body = body,
      timeout = s.timeout, ca = s.ca, proxy = s.proxy, follow = s.follow },
      function(res, err) answer(res, err, done) end)
  end

  return function(batch, done)
    local body = codec.encode(batch, s.codec_options)
    if not s.gzip then return post(batch, body, false, done) end
    core.gzip(body, function(z, err)
      if not z then return done(false, err) end
      post(batch, z, true, done)
    end)
  end
end

return M
