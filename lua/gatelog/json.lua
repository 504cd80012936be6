-- JSON text for codecs: strings escaped as the core (and Go's
-- encoding/json) escape them, numbers as integers when they are
-- integral, and records with their keys in a fixed order, so that a
-- codec's output is the same bytes for the same records.
--
-- Strings are taken to be UTF-8 (the records of batch.records always
-- are: the core replaced every invalid byte with U+FFFD).
local find, gsub, format, floor = string.find, string.gsub, string.format, math.floor
local concat, sort, tostring, type, pairs = table.concat, table.sort, tostring, type, pairs
local gsub_ = string.gsub

local M = {}

local ESC = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t", ["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026",
}
for i = 0, 31 do
  local c = string.char(i)
  if not ESC[c] then ESC[c] = format("\\u%04x", i) end
end

-- A JSON string literal for s.
function M.string(s)
  -- The common case (nothing to escape) costs one find.
  if not find(s, '[%z\1-\31"\\<>&\226]') then return '"' .. s .. '"' end
  s = gsub(s, '[%z\1-\31"\\<>&]', ESC)
  -- U+2028 and U+2029 break JavaScript parsers that take JSON as code.
  s = gsub(s, "\226\128([\168\169])", function(c) return c == "\168" and "\\u2028" or "\\u2029" end)
  return '"' .. s .. '"'
end

local jstring = M.string
local function quote(s) return '"' .. s .. '"' end
M.quote = quote

-- The string encoder for a set of records: M.string, or for records the
-- core marked as needing no escaping (batch.records of a batch whose JSON
-- has no backslash: getmetatable(records).json_safe) a plain quote, which
-- spares a pattern match per string.
function M.quoter(records)
  local mt = getmetatable(records)
  if mt and mt.json_safe then return quote end
  return jstring
end

-- A JSON number for n: integral values exactly (up to 2^53), others in
-- the shortest of %.14g / %.17g that reads back the same.
function M.number(n)
  if n == floor(n) and n > -9007199254740992 and n < 9007199254740992 then
    return format("%d", n)
  end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  local s = format("%.14g", n)
  if tonumber(s) ~= n then s = format("%.17g", n) end
  return s
end

-- Any scalar value (string, number, boolean; nil is null).
function M.value(v)
  local t = type(v)
  if t == "string" then return M.string(v) end
  if t == "number" then return M.number(v) end
  if t == "boolean" then return v and "true" or "false" end
  if v == nil then return "null" end
  error("cannot encode a " .. t .. " as a JSON scalar", 2)
end

-- The keys of a record, in the order the codecs write them: the
-- reference's keys, the interim-record keys, endReason, then any other
-- key (enrichment) sorted by name.
M.RECORD_KEYS = { "sessionId", "resourceId", "sourceAddr", "destAddr", "protocol",
  "startedAt", "endedAt", "bytesTx", "bytesRx", "final", "seq", "deltaTx", "deltaRx",
  "endReason" }
local STANDARD = {}
for _, k in ipairs(M.RECORD_KEYS) do STANDARD[k] = true end
M.STANDARD = STANDARD

-- The enrichment keys of r, sorted; `into` is reused (cleared) when given.
function M.extra_keys(r, into)
  local keys, n = into or {}, 0
  for k in pairs(r) do
    if not STANDARD[k] then
      n = n + 1
      keys[n] = k
    end
  end
  for i = #keys, n + 1, -1 do keys[i] = nil end
  if n > 1 then sort(keys) end
  return keys, n
end

local std_keys = M.RECORD_KEYS
local quoted = {}
for i, k in ipairs(std_keys) do quoted[i] = '"' .. k .. '":' end
local jnumber = M.number

-- Any scalar, strings through q.
local function qvalue(v, q)
  if type(v) == "string" then return q(v) end
  return M.value(v)
end
M.qvalue = qvalue

-- The general path: any record, any missing key.
local function record_slow(r, q, scratch)
  local buf, n = {}, 0
  for i = 1, #std_keys do
    local v = r[std_keys[i]]
    if v ~= nil then
      n = n + 1
      buf[n] = quoted[i] .. qvalue(v, q)
    end
  end
  local keys, nk = M.extra_keys(r, scratch)
  for i = 1, nk do
    local k = keys[i]
    n = n + 1
    buf[n] = q(tostring(k)) .. ":" .. qvalue(r[k], q)
  end
  return "{" .. concat(buf, ",", 1, n) .. "}"
end

-- The fixed parts of a record's text, in two styles: plain JSON, and
-- JSON that is itself inside a JSON string (every quote escaped), which
-- the loki codec needs: building it escaped costs far less than escaping
-- it afterwards.
local function style(qq)
  local function t(s) return (gsub_(s, '"', qq)) end
  return {
    reference = t('{"sessionId":%s,"resourceId":%s,"sourceAddr":%s,"destAddr":%s,"protocol":%s,' ..
      '"startedAt":%s,"endedAt":%s,"bytesTx":%s,"bytesRx":%s'),
    interim = t(',"final":%s,"seq":%s,"deltaTx":%s,"deltaRx":%s'),
    final_true = t(',"final":true'), final_false = t(',"final":false'),
    reason = t(',"endReason":'), colon = ":", qq = qq,
  }
end
local PLAIN, EMBEDDED = style('"'), style('\\"')
-- With strings that need no escaping, the quotes are in the template and
-- the strings go in as they are: no function call per string.
local function raw_style(st)
  local qq = st.qq
  local r = {}
  for k, v in pairs(st) do r[k] = v end
  local parts = { "sessionId", "resourceId", "sourceAddr", "destAddr", "protocol", "startedAt", "endedAt",
    "bytesTx", "bytesRx" }
  local strings = { sessionId = true, sourceAddr = true, destAddr = true, protocol = true,
    startedAt = true, endedAt = true }
  local t = {}
  for i, k in ipairs(parts) do
    t[i] = qq .. k .. qq .. ":" .. (strings[k] and (qq .. "%s" .. qq) or "%s")
  end
  r.reference = "{" .. concat(t, ",")
  r.raw = true
  return r
end
local PLAIN_RAW, EMBEDDED_RAW = raw_style(PLAIN), raw_style(EMBEDDED)

-- One record as a JSON object, keys in the order above; q encodes strings
-- (M.quoter(records); default M.string). Records as the core makes them
-- (the reference's keys all there, strings and numbers) take one format
-- call; others the general path.
local scratch = {}
local function record(r, q, st)
  local sid, rid, src, dst, proto = r.sessionId, r.resourceId, r.sourceAddr, r.destAddr, r.protocol
  local sa, en, tx, rx = r.startedAt, r.endedAt, r.bytesTx, r.bytesRx
  if type(sid) ~= "string" or type(rid) ~= "number" or type(src) ~= "string" or type(dst) ~= "string"
    or type(proto) ~= "string" or type(sa) ~= "string" or type(en) ~= "string"
    or type(tx) ~= "number" or type(rx) ~= "number" then
    return nil
  end
  local s
  if st.raw then
    s = format(st.reference, sid, jnumber(rid), src, dst, proto, sa, en, jnumber(tx), jnumber(rx))
  else
    s = format(st.reference, q(sid), jnumber(rid), q(src), q(dst), q(proto), q(sa), q(en),
      jnumber(tx), jnumber(rx))
  end
  local final, seq = r.final, r.seq
  if seq ~= nil then
    s = s .. format(st.interim, qvalue(final, q), qvalue(seq, q), qvalue(r.deltaTx, q), qvalue(r.deltaRx, q))
  elseif final ~= nil then
    s = s .. (final and st.final_true or st.final_false)
  end
  local reason = r.endReason
  if reason ~= nil then s = s .. st.reason .. qvalue(reason, q) end
  local keys, nk = M.extra_keys(r, scratch)
  for i = 1, nk do
    local k = keys[i]
    s = s .. "," .. q(tostring(k)) .. ":" .. qvalue(r[k], q)
  end
  return s .. "}"
end

function M.record(r, q)
  q = q or jstring
  return record(r, q, q == quote and PLAIN_RAW or PLAIN) or record_slow(r, q, scratch)
end

-- The record's JSON text as a JSON string literal (a line inside JSON).
local function quote_embedded(s) return '\\"' .. s .. '\\"' end
function M.record_string(r, q)
  q = q or jstring
  if q ~= jstring then
    -- Strings that need no escaping stay so inside the outer string.
    local s = record(r, quote_embedded, EMBEDDED_RAW)
    if s then return '"' .. s .. '"' end
  end
  return jstring(M.record(r, q))
end

return M
