-- The C codecs: ndjson, otlp, loki, elasticsearch and syslog bodies that
-- the core builds on its compression threads, from each batch's records
-- as the loop thread packed them, byte for byte what the Lua codec of the
-- same name writes with the same options (docs/codecs-in-c.md).
--
--   local native = require "gatelog.codec.native"
--   settings.codec = native.new("otlp", { service_name = "gateway" })
--
-- The result stands in for the Lua codec wherever a transport takes one
-- (codec.encode(batch) is the body the core built). Options are the Lua
-- codec's, checked here: a name or option that is not one raises, so the
-- script fails to load naming it. The options given to new() are the ones
-- used; those a transport passes to encode are not looked at.
--
-- A batch without a body of this codec (read back from the spool, sealed
-- before a reload changed the codec, or with a record that only the Lua
-- codec's general path writes) is encoded by the Lua codec: the bytes are
-- the same either way, only the cost differs. Records given as a table
-- (not a batch) also go to the Lua codec.
local core = require "gatelog.core"
local codecs = require "gatelog.codec"
local json = require "gatelog.json"
local record = require "gatelog.record"
local find, sub, tonumber, type, pairs = string.find, string.sub, tonumber, type, pairs

local M = {}

M.NAMES = { "ndjson", "otlp", "loki", "elasticsearch", "syslog" }

local function fail(msg) error("gatelog.codec.native: " .. msg, 4) end

local function scalar(v) local t = type(v) return t == "string" or t == "number" or t == "boolean" end

-- Each option: a check of its value, and what it must be (for the error).
local function string_(v) return type(v) == "string" end
local function text(v) return type(v) == "string" or type(v) == "number" end
local function code(max)
  return function(v) return type(v) == "number" and v % 1 == 0 and v >= 0 and v <= max end
end
local function map(v)
  if type(v) ~= "table" then return false end
  for k, x in pairs(v) do
    if type(k) ~= "string" or not scalar(x) then return false end
  end
  return true
end
local STRING, TEXT, MAP = { string_, "a string" }, { text, "a string or a number" },
  { map, "a table of string keys to strings, numbers or booleans" }

local OPTIONS = {
  ndjson = {},
  elasticsearch = { index = STRING, instance_id = STRING },
  loki = { labels = MAP, instance_id = STRING },
  otlp = { service_name = STRING, host_name = STRING, resource = MAP, instance_id = STRING },
  syslog = { facility = { code(23), "an integer from 0 to 23" }, severity = { code(7), "an integer from 0 to 7" },
    hostname = TEXT, app_name = TEXT, procid = TEXT, msgid = TEXT, sd_id = STRING },
}

local function check(name, opts)
  local known = OPTIONS[name]
  if not known then
    fail("no C codec '" .. tostring(name) .. "' (known: " .. table.concat(M.NAMES, ", ") .. ")")
  end
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(name .. " options must be a table, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local o = known[k]
    if not o then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      fail(name .. " has no option '" .. tostring(k) .. "'" ..
        (#names > 0 and " (its options: " .. table.concat(names, ", ") .. ")" or " (it takes none)"))
    end
    if not o[1](v) then fail(name .. " option " .. k .. " must be " .. o[2]) end
  end
  return opts
end

-- The text the options make, written by the Lua codec's own helpers.
local function parts(name, lua, opts)
  if name == "elasticsearch" then return json.string(opts.index or "gatelog") end
  if name == "loki" then
    local labels = opts.labels or { job = "gatelog" }
    return lua.stream_labels(labels, "tcp"), lua.stream_labels(labels, "udp")
  end
  if name == "otlp" then
    return '{"resourceLogs":[{"resource":' .. lua.resource(opts) ..
      ',"scopeLogs":[{"scope":{"name":"gatelog","version":"' .. lua.SCOPE_VERSION .. '"},"logRecords":['
  end
  if name == "syslog" then return lua.parts(opts) end
  return nil
end

-- The messages of a body: syslog's are framed by octet counting
-- ("<length> <message>"), ndjson's are lines.
local function split(body, framed)
  local out, n, pos = {}, 0, 1
  while pos <= #body do
    local at = find(body, framed and " " or "\n", pos, true)
    local first, last = pos, at - 1
    if framed then first, last = at + 1, at + tonumber(sub(body, pos, at - 1)) end
    n = n + 1
    out[n] = sub(body, first, last)
    pos = last + (framed and 1 or 2)
  end
  return out
end

-- A codec object for the transports: name, content_type, encode and, as
-- the Lua codec has them, messages and message.
function M.new(name, opts)
  opts = check(name, opts)
  local lua = codecs.get(name)
  local p0, p1 = parts(name, lua, opts)
  local handle = core.native_codec(name, p0, p1, opts.instance_id)
  local function body(x)
    if type(x) == "userdata" and record.is_batch(x) then return handle:body(x) end
    return nil
  end
  local c = { name = name, content_type = lua.content_type, native = true }
  function c.encode(x)
    return body(x) or lua.encode(x, opts)
  end
  -- The body as C built it, or nil: what the specs compare.
  c.body = body
  if lua.messages then
    local framed = name == "syslog"
    function c.messages(x)
      local b = body(x)
      if b then return split(b, framed) end
      return lua.messages(x, opts)
    end
  end
  if lua.message then function c.message(r) return lua.message(r, opts) end end
  return c
end

return M
