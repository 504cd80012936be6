-- The elasticsearch codec: a _bulk body (POST /_bulk, NDJSON) with one
-- "create" action per record, whose _id is the record's dedupe key
-- (gatelog.record's key): instanceId:sessionId (-seq for interim and start
-- records, where a session has several). A batch sent again, after a
-- retry or a crash, cannot index a record twice: the second create fails
-- with 409, which the elasticsearch script counts as delivered. The
-- instance id keeps two gateways' sessionIds apart: a 409 on another
-- gateway's record would be a silent loss. "create" also works with data
-- streams.
--
--   local es = require "gatelog.codec.elasticsearch"
--   local body = es.encode(batch, { index = "gatelog" })
--   -- records alone: es.encode(batch.records, { instance_id = "edge-7" })
--
-- Each document is the record (the ndjson codec's keys) with an
-- "@timestamp" first (endedAt; startedAt for a start record).
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, jstr, sub = table.concat, json.string, string.sub

local M = { name = "elasticsearch", content_type = "application/x-ndjson" }

-- The _id of a record made under `instance` (nil: the sessionId part only).
M.id = record.key

function M.encode(x, opts)
  opts = opts or {}
  local index = jstr(opts.index or "gatelog")
  local instance = record.instance_of(x, opts)
  local recs = record.of(x)
  local q = json.quoter(recs)
  local out, n = {}, 0
  for i = 1, #recs do
    local r = recs[i]
    out[n + 1] = '{"create":{"_index":' .. index .. ',"_id":' .. q(M.id(r, instance)) .. "}}"
    local t = record.time_of(r)
    local doc = json.record(r, q)
    if t then doc = '{"@timestamp":' .. q(t) .. "," .. sub(doc, 2) end
    out[n + 2] = doc
    n = n + 2
  end
  if n == 0 then return "" end
  out[n + 1] = ""
  return concat(out, "\n")
end

return M
