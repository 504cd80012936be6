-- The syslog codec: RFC 5424 messages with the record as structured data,
-- framed by octet counting (RFC 6587 3.4.1: "<length> <message>") for
-- TCP, or one message per datagram for UDP.
--
--   local syslog = require "gatelog.codec.syslog"
--   local body = syslog.encode(batch.records, { hostname = core.hostname() })  -- TCP
--   local msgs = syslog.messages(batch.records, opts)                          -- UDP
--
-- Options: facility (0-23, default 16 = local0), severity (0-7, default
-- 6 = info), hostname (default "-"), app_name ("gatelog"), procid ("-"),
-- msgid ("access"), sd_id ("gatelog@32473": 32473 is the enterprise
-- number RFC 5612 reserves for examples; use your own).
--
-- A message:
--   <134>1 2026-11-27T10:00:05.9876Z edge-1 gatelog - access [gatelog@32473
--   sessionId="9f2c1a7b3d4e5f60" resourceId="42" ...] tcp 203.0.113.7:51234 -> 10.0.0.5:443 closed
-- Timestamps keep at most 6 fractional digits (RFC 5424 allows no more);
-- parameter values escape '"', '\' and ']'; enrichment keys become
-- parameter names with anything outside [A-Za-z0-9._-] replaced by '_'.
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, gsub, sub, format, tostring, type = table.concat, string.gsub, string.sub, string.format, tostring, type
local find = string.find

local M = { name = "syslog", content_type = "application/octet-stream" }

local function header_field(v, max)
  v = gsub(tostring(v), "[^!-~]", "_")
  if v == "" then return "-" end
  return sub(v, 1, max)
end

local PARAM_ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["]"] = "\\]" }

-- Plain finds: a pattern match costs far more without the JIT.
local function param_value(v)
  if type(v) == "number" then return json.number(v) end
  v = tostring(v)
  if find(v, "]", 1, true) or find(v, '"', 1, true) or find(v, "\\", 1, true) then
    v = gsub(v, '["\\%]]', PARAM_ESC)
  end
  return v
end

local function param_name(k)
  return sub(gsub(tostring(k), "[^%w%._%-]", "_"), 1, 32)
end

-- RFC 5424 TIMESTAMP: at most 6 digits of fraction.
local function timestamp(t)
  if not t then return "-" end
  local dot = find(t, ".", 20, true)
  if not dot or #t - dot <= 7 then return t end
  return sub(t, 1, dot + 6) .. "Z"
end

local scratch = {}

-- What every message of a batch shares: the priority, then the header
-- fields after the timestamp, then the SD-ID.
local function parts(opts)
  local pri = "<" .. ((opts.facility or 16) * 8 + (opts.severity or 6)) .. ">1 "
  local mid = " " .. header_field(opts.hostname or "-", 255) .. " " ..
    header_field(opts.app_name or "gatelog", 48) .. " " .. header_field(opts.procid or "-", 128) ..
    " " .. header_field(opts.msgid or "access", 32) .. " [" .. (opts.sd_id or "gatelog@32473") .. " "
  return pri, mid
end
M.parts = parts -- for gatelog.codec.native

local SD_REFERENCE = 'sessionId="%s" resourceId="%s" sourceAddr="%s" destAddr="%s" protocol="%s" ' ..
  'startedAt="%s" endedAt="%s" bytesTx="%s" bytesRx="%s"'
local REFERENCE_COUNT = 9

-- safe: the record's strings carry no '"' or '\' (the core's mark), and
-- those the core makes (id, protocol, times) no ']': only the addresses
-- (IPv6 brackets) and what follows need a look.
local function message(r, pri, mid, safe)
  local sd, n = {}, 0
  local keys = json.RECORD_KEYS
  local first = 1
  if safe then
    local sid, rid, src, dst, proto = r.sessionId, r.resourceId, r.sourceAddr, r.destAddr, r.protocol
    local st, en, tx, rx = r.startedAt, r.endedAt, r.bytesTx, r.bytesRx
    if type(sid) == "string" and type(rid) == "number" and type(src) == "string" and type(dst) == "string"
      and type(proto) == "string" and type(st) == "string" and type(en) == "string"
      and type(tx) == "number" and type(rx) == "number" then
      n = 1
      sd[1] = format(SD_REFERENCE, sid, json.number(rid), param_value(src), param_value(dst), proto, st, en,
        json.number(tx), json.number(rx))
      first = REFERENCE_COUNT + 1
    end
  end
  for i = first, #keys do
    local v = r[keys[i]]
    if v ~= nil then
      n = n + 1
      sd[n] = keys[i] .. '="' .. param_value(v) .. '"'
    end
  end
  local extra, nk = json.extra_keys(r, scratch)
  for i = 1, nk do
    local k = extra[i]
    n = n + 1
    sd[n] = param_name(k) .. '="' .. param_value(r[k]) .. '"'
  end
  local msg = (r.protocol or "?") .. " " .. tostring(r.sourceAddr) .. " -> " .. tostring(r.destAddr)
  if r.endReason then msg = msg .. " " .. r.endReason end
  return pri .. timestamp(record.time_of(r)) .. mid .. concat(sd, " ", 1, n) .. "] " .. msg
end

-- One RFC 5424 message (no framing) for record r.
function M.message(r, opts)
  local pri, mid = parts(opts or {})
  return message(r, pri, mid)
end

-- The messages of a batch, one per record (UDP: one datagram each).
local function is_safe(recs)
  local mt = getmetatable(recs)
  return mt ~= nil and mt.json_safe == true
end

function M.messages(x, opts)
  local recs = record.of(x)
  local pri, mid = parts(opts or {})
  local safe = is_safe(recs)
  local out = {}
  for i = 1, #recs do out[i] = message(recs[i], pri, mid, safe) end
  return out
end

-- The messages framed by octet counting, for a TCP stream.
function M.encode(x, opts)
  local recs = record.of(x)
  local pri, mid = parts(opts or {})
  local safe = is_safe(recs)
  local out = {}
  for i = 1, #recs do
    local m = message(recs[i], pri, mid, safe)
    out[i] = format("%d ", #m) .. m
  end
  return concat(out)
end

return M
