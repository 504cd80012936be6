-- The elasticsearch codec: a _bulk body (POST /_bulk, NDJSON) with one
-- "create" action per record, whose _id is the sessionId (sessionId-seq
-- for interim and start records, where a session has several): a retry
-- of a batch that was partly indexed cannot index a record twice, the
-- second create fails with 409, which the elasticsearch script counts as
-- delivered. "create" also works with data streams.
--
--   local es = require "gatelog.codec.elasticsearch"
--   local body = es.encode(batch.records, { index = "gatelog" })
--
-- Each document is the record (the ndjson codec's keys) with an
-- "@timestamp" first (endedAt; startedAt for a start record).
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, jstr, sub = table.concat, json.string, string.sub

local M = { name = "elasticsearch", content_type = "application/x-ndjson" }

-- The _id of a record.
function M.id(r)
  if r.seq ~= nil then return (r.sessionId or "") .. "-" .. json.number(r.seq) end
  return r.sessionId or ""
end

function M.encode(x, opts)
  opts = opts or {}
  local index = jstr(opts.index or "gatelog")
  local recs = record.of(x)
  local q = json.quoter(recs)
  local out, n = {}, 0
  for i = 1, #recs do
    local r = recs[i]
    out[n + 1] = '{"create":{"_index":' .. index .. ',"_id":' .. q(M.id(r)) .. "}}"
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
