-- The otlp codec: OTLP/HTTP JSON logs (POST to a collector's /v1/logs),
-- one logRecord per record, every record under one resource and scope.
--
--   local otlp = require "gatelog.codec.otlp"
--   local body = otlp.encode(batch.records, {
--     service_name = "gateway",          -- resource service.name; default "gatelog"
--     host_name = core.hostname(),       -- resource host.name; default none
--     resource = { ["deployment.environment"] = "prod" },  -- more resource attributes
--   })
--
-- As the OTLP JSON mapping wants: times and int64 values are decimal
-- strings ("timeUnixNano":"1795773605987600000", {"intValue":"12345"}),
-- attributes are {"key":..,"value":{..}} lists. A record's attributes
-- follow OpenTelemetry's names where there is one (session.id,
-- network.transport, source.address/port, destination.address/port);
-- the rest are gatelog.*; enrichment keys keep their names. timeUnixNano
-- is endedAt (startedAt for a start record). Given a batch (or
-- opts.instance_id), each record also has gatelog.record_id, its dedupe
-- key (instanceId:sessionId[-seq], the same however often it is
-- delivered), and with a batch gatelog.batch_id, the batch's id: a
-- consumer drops a logRecord whose gatelog.record_id it has seen.
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, format, floor, type, tostring = table.concat, string.format, math.floor, type, tostring
local jstr = json.string

local M = { name = "otlp", content_type = "application/json" }
M.SCOPE_VERSION = "0.1.0"

-- The "value" object of an attribute.
local function any_value(v)
  local t = type(v)
  if t == "string" then return '{"stringValue":' .. jstr(v) .. "}" end
  if t == "boolean" then return v and '{"boolValue":true}' or '{"boolValue":false}' end
  if t == "number" then
    if v == floor(v) and v > -9007199254740992 and v < 9007199254740992 then
      return format('{"intValue":"%d"}', v)
    end
    return '{"doubleValue":' .. json.number(v) .. "}"
  end
  return '{"stringValue":' .. jstr(tostring(v)) .. "}"
end
M.any_value = any_value

local function attr(key_json, v, q)
  if q and type(v) == "string" then return '{"key":' .. key_json .. ',"value":{"stringValue":' .. q(v) .. "}}" end
  return '{"key":' .. key_json .. ',"value":' .. any_value(v) .. "}"
end

-- Attribute keys, quoted once.
local K = {}
for _, k in ipairs({ "session.id", "gatelog.resource_id", "network.transport", "source.address",
  "source.port", "destination.address", "destination.port", "gatelog.started_at",
  "gatelog.bytes_tx", "gatelog.bytes_rx", "gatelog.end_reason", "gatelog.final", "gatelog.seq",
  "gatelog.delta_tx", "gatelog.delta_rx" }) do
  K[k] = jstr(k)
end

local scratch = {}

local FIXED = '{"timeUnixNano":"%s","observedTimeUnixNano":"%s","severityNumber":9,' ..
  '"severityText":"INFO","body":{"stringValue":%s},"attributes":[' ..
  '{"key":"session.id","value":{"stringValue":%s}},' ..
  '{"key":"gatelog.resource_id","value":{"intValue":"%d"}},' ..
  '{"key":"network.transport","value":{"stringValue":%s}},' ..
  '{"key":"source.address","value":{"stringValue":%s}},%s' ..
  '{"key":"destination.address","value":{"stringValue":%s}},%s' ..
  '{"key":"gatelog.started_at","value":{"stringValue":%s}},' ..
  '{"key":"gatelog.bytes_tx","value":{"intValue":"%d"}},' ..
  '{"key":"gatelog.bytes_rx","value":{"intValue":"%d"}}'
-- The same with the string values' quotes in the template.
local FIXED_RAW = FIXED:gsub('"stringValue":%%s}', '"stringValue":"%%s"}')
local PORT = { source = '{"key":"source.port","value":{"intValue":"%d"}},',
  destination = '{"key":"destination.port","value":{"intValue":"%d"}},' }
local BIG = 9007199254740992

local function exact(n) return type(n) == "number" and n % 1 == 0 and n > -BIG and n < BIG end

-- Records as the core makes them: one format call for what every record
-- has; nil for any other record (log_record then takes the general path).
local function fast_record(r, q, tail)
  local sid, rid, proto, src, dst, st = r.sessionId, r.resourceId, r.protocol, r.sourceAddr, r.destAddr, r.startedAt
  local tx, rx = r.bytesTx, r.bytesRx
  if type(sid) ~= "string" or type(proto) ~= "string" or type(src) ~= "string" or type(dst) ~= "string"
    or type(st) ~= "string" or not (exact(rid) and exact(tx) and exact(rx)) then
    return nil
  end
  local t = r.endedAt or st
  local ns = record.unix_nanos(t) or "0"
  local src_ip, src_port = record.split_addr(src)
  local dst_ip, dst_port = record.split_addr(dst)
  local reason = r.endReason
  local body = proto .. " " .. src .. " to " .. dst
  if reason then body = body .. " " .. reason end
  local sp = src_port and format(PORT.source, src_port) or ""
  local dp = dst_port and format(PORT.destination, dst_port) or ""
  local s
  if q == json.quote then -- strings as they are, quotes in the template
    s = format(FIXED_RAW, ns, ns, body, sid, rid, proto, src_ip, sp, dst_ip, dp, st, tx, rx)
  else
    s = format(FIXED, ns, ns, q(body), q(sid), rid, q(proto), q(src_ip), sp, q(dst_ip), dp, q(st), tx, rx)
  end
  if reason ~= nil then s = s .. "," .. attr(K["gatelog.end_reason"], reason, q) end
  if r.final ~= nil then s = s .. "," .. attr(K["gatelog.final"], r.final, q) end
  if r.seq ~= nil then
    s = s .. "," .. attr(K["gatelog.seq"], r.seq, q) .. "," .. attr(K["gatelog.delta_tx"], r.deltaTx, q) ..
      "," .. attr(K["gatelog.delta_rx"], r.deltaRx, q)
  end
  local keys, nk = json.extra_keys(r, scratch)
  for i = 1, nk do
    local k = keys[i]
    s = s .. "," .. attr(q(tostring(k)), r[k], q)
  end
  return s .. tail .. "]}"
end

local function log_record(r, q, tail)
  local fast = fast_record(r, q, tail)
  if fast then return fast end
  local a, n = {}, 0
  local function add(key, v)
    if v ~= nil then
      n = n + 1
      a[n] = attr(K[key], v, q)
    end
  end
  local src_ip, src_port = record.split_addr(r.sourceAddr or "")
  local dst_ip, dst_port = record.split_addr(r.destAddr or "")
  add("session.id", r.sessionId)
  add("gatelog.resource_id", r.resourceId)
  add("network.transport", r.protocol)
  add("source.address", src_ip)
  add("source.port", src_port)
  add("destination.address", dst_ip)
  add("destination.port", dst_port)
  add("gatelog.started_at", r.startedAt)
  add("gatelog.bytes_tx", r.bytesTx)
  add("gatelog.bytes_rx", r.bytesRx)
  add("gatelog.end_reason", r.endReason)
  add("gatelog.final", r.final)
  add("gatelog.seq", r.seq)
  add("gatelog.delta_tx", r.deltaTx)
  add("gatelog.delta_rx", r.deltaRx)
  local keys, nk = json.extra_keys(r, scratch)
  for i = 1, nk do
    local k = keys[i]
    n = n + 1
    a[n] = attr(q(tostring(k)), r[k], q)
  end
  local t = record.time_of(r)
  local ns = t and record.unix_nanos(t) or "0"
  local body = (r.protocol or "?") .. " " .. (r.sourceAddr or "?") .. " to " .. (r.destAddr or "?")
  if r.endReason then body = body .. " " .. r.endReason end
  return '{"timeUnixNano":"' .. ns .. '","observedTimeUnixNano":"' .. ns ..
    '","severityNumber":9,"severityText":"INFO","body":{"stringValue":' .. q(body) ..
    '},"attributes":[' .. concat(a, ",", 1, n) .. tail .. "]}"
end

-- The dedupe attributes of r, after the others (or "").
local function dedupe(r, q, instance, batch_attr)
  if instance == nil then return "" end
  return ',{"key":"gatelog.record_id","value":{"stringValue":' .. q(record.key(r, instance)) .. "}}" ..
    batch_attr
end

-- The resource's attributes: service.name, host.name, then opts.resource
-- sorted by key.
local function resource(opts)
  local a = { attr(jstr("service.name"), opts.service_name or "gatelog") }
  if opts.host_name then a[#a + 1] = attr(jstr("host.name"), opts.host_name) end
  if opts.resource then
    local keys = {}
    for k in pairs(opts.resource) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do a[#a + 1] = attr(jstr(k), opts.resource[k]) end
  end
  return '{"attributes":[' .. concat(a, ",") .. "]}"
end
M.resource = resource -- for gatelog.codec.native

function M.encode(x, opts)
  opts = opts or {}
  local recs = record.of(x)
  local q = json.quoter(recs)
  local instance = record.instance_of(x, opts)
  local batch_attr = x.payload ~= nil and x.id and
    ',{"key":"gatelog.batch_id","value":{"stringValue":' .. jstr(x.id) .. "}}" or ""
  local out = {}
  for i = 1, #recs do out[i] = log_record(recs[i], q, dedupe(recs[i], q, instance, batch_attr)) end
  return '{"resourceLogs":[{"resource":' .. resource(opts) ..
    ',"scopeLogs":[{"scope":{"name":"gatelog","version":"' .. M.SCOPE_VERSION ..
    '"},"logRecords":[' .. concat(out, ",") .. "]}]}]}"
end

return M
