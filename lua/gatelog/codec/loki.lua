-- The loki codec: Loki's push API JSON (POST /loki/api/v1/push).
--
--   local loki = require "gatelog.codec.loki"
--   local body = loki.encode(batch.records, { labels = { job = "gatelog", host = "edge-1" } })
--
-- Streams carry a few low-cardinality labels: opts.labels (default
-- { job = "gatelog" }) and the record's protocol, so a batch makes at most
-- two streams. Each value is [ "<ns>", "<line>", { "session_id": "<id>" } ]:
-- the time (endedAt, in nanoseconds, as a string), the record as one JSON
-- line (the ndjson codec's), and the session id as structured metadata
-- (Loki 2.9+) rather than a label, where its cardinality would hurt. Given
-- a batch (or opts.instance_id), the metadata also has record_id, the
-- record's dedupe key (instanceId:sessionId[-seq]): Loki itself drops a
-- line sent again with the same stream, time and text; record_id lets a
-- query or consumer tell repeats apart where that is not enough.
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, jstr = table.concat, json.string


local M = { name = "loki", content_type = "application/json" }

local function stream_labels(labels, protocol)
  local all = { protocol = protocol }
  for k, v in pairs(labels) do all[k] = v end
  local keys = {}
  for k in pairs(all) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = jstr(k) .. ":" .. jstr(tostring(all[k])) end
  return "{" .. concat(parts, ",") .. "}"
end
M.stream_labels = stream_labels -- for gatelog.codec.native

function M.encode(x, opts)
  opts = opts or {}
  local labels = opts.labels or { job = "gatelog" }
  local recs = record.of(x)
  local q = json.quoter(recs)
  local instance = record.instance_of(x, opts)
  local order, streams = {}, {}
  for i = 1, #recs do
    local r = recs[i]
    local proto = r.protocol or "unknown"
    local s = streams[proto]
    if not s then
      s = { n = 0 }
      streams[proto] = s
      order[#order + 1] = proto
    end
    local t = record.time_of(r)
    s.n = s.n + 1
    local line = json.record_string(r, q)
    local meta = '{"session_id":' .. q(r.sessionId or "")
    if instance ~= nil then meta = meta .. ',"record_id":' .. q(record.key(r, instance)) end
    s[s.n] = '["' .. (t and record.unix_nanos(t) or "0") .. '",' .. line .. "," .. meta .. "}]"
  end
  local out = {}
  for i, proto in ipairs(order) do
    local s = streams[proto]
    out[i] = '{"stream":' .. stream_labels(labels, proto) .. ',"values":[' .. concat(s, ",", 1, s.n) .. "]}"
  end
  return '{"streams":[' .. concat(out, ",") .. "]}"
end

return M
