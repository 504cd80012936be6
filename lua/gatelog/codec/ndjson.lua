-- The ndjson codec: one JSON object a line, each record with every key it
-- has (the reference's keys in their order, then final, seq, deltaTx,
-- deltaRx, endReason, then enrichment keys sorted by name).
--
--   local ndjson = require "gatelog.codec.ndjson"
--   local body = ndjson.encode(batch.records)   -- or ndjson.encode(batch)
--
-- batch.ndjson (built by the core) is the same lines without endReason and
-- final, exactly as the default codec writes each record.
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat = table.concat

local M = { name = "ndjson", content_type = "application/x-ndjson" }

function M.encode(x, opts)
  local _ = opts -- no options
  local recs = record.of(x)
  local n = #recs
  if n == 0 then return "" end
  local q = json.quoter(recs)
  local out = {}
  for i = 1, n do out[i] = json.record(recs[i], q) end
  out[n + 1] = ""
  return concat(out, "\n")
end

-- One JSON text per record (one datagram each over UDP).
function M.messages(x, opts)
  local _ = opts -- no options
  local recs = record.of(x)
  local q = json.quoter(recs)
  local out = {}
  for i = 1, #recs do out[i] = json.record(recs[i], q) end
  return out
end

return M
