-- Settings from the environment, read once when a ready script loads.
-- Every reader takes the variable's name and a default (used when the
-- variable is unset or empty) and raises, naming the variable and its
-- value, when the value is not what it must be: the script's load then
-- fails, so `gatelog check` and gatelog_new report it and nothing runs
-- with a setting half understood.
--
--   local env = require "gatelog.env"
--   env.string("GATELOG_INDEX", "gatelog")
--   env.integer("GATELOG_REDIS_MAXLEN", 1000000, 0, 2^53)
--   env.port("GATELOG_SYSLOG_PORT", 514)
--   env.boolean("GATELOG_GZIP", true)      -- 1/0 true/false yes/no on/off
--   env.oneof("GATELOG_SYSLOG_TRANSPORT", "tcp", { "tcp", "udp", "tls" })
--   env.list("GATELOG_LABELS", {})         -- "a, b,c" -> { "a", "b", "c" }
--   env.url("GATELOG_URL", "http://127.0.0.1:3100", "/loki/api/v1/push")
--   env.pairs("OTEL_RESOURCE_ATTRIBUTES")  -- "k=v,k2=v%202" -> { k = "v", k2 = "v 2" }
--   config = env.core{ flush_interval = 2, batch_max = 500 }
local M = {}

local getenv = os.getenv

local function fail(name, value, why)
  error(("%s=%q: %s"):format(name, value, why), 0)
end

-- The variable's value, or nil when unset or empty.
local function raw(name)
  local v = getenv(name)
  if v == nil or v == "" then return nil end
  return v
end
M.raw = raw

function M.string(name, default)
  return raw(name) or default
end

local function within(name, v, n, min, max)
  if (min and n < min) or (max and n > max) then
    fail(name, v, ("out of range (%s to %s)"):format(tostring(min or "-inf"), tostring(max or "inf")))
  end
  return n
end

-- A whole number in [min, max] (decimal, optional sign).
function M.integer(name, default, min, max)
  local v = raw(name)
  if v == nil then return default end
  local n = v:match("^%s*([+-]?%d+)%s*$")
  n = n and tonumber(n)
  if n == nil then fail(name, v, "not a whole number") end
  return within(name, v, n, min, max)
end

-- A number in [min, max] (seconds, say: "0.5", "2").
function M.number(name, default, min, max)
  local v = raw(name)
  if v == nil then return default end
  local n = v:match("^%s*[+-]?%d*%.?%d+%s*$") and tonumber(v)
  if n == nil then fail(name, v, "not a number") end
  return within(name, v, n, min, max)
end

function M.port(name, default)
  local v = raw(name)
  if v == nil then return default end
  local n = v:match("^%d+$") and tonumber(v)
  if not n or n < 1 or n > 65535 then fail(name, v, "not a port (1 to 65535)") end
  return n
end

local TRUE = { ["1"] = true, ["true"] = true, yes = true, on = true }
local FALSE = { ["0"] = true, ["false"] = true, no = true, off = true }

function M.boolean(name, default)
  local v = raw(name)
  if v == nil then return default end
  local k = v:lower()
  if TRUE[k] then return true end
  if FALSE[k] then return false end
  fail(name, v, "not a boolean (1/0, true/false, yes/no, on/off)")
end

function M.oneof(name, default, choices)
  local v = raw(name)
  if v == nil then return default end
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  fail(name, v, "must be one of " .. table.concat(choices, ", "))
end

-- Comma-separated items, each trimmed; empty items are skipped.
function M.list(name, default)
  local v = raw(name)
  if v == nil then return default end
  local out = {}
  for item in (v .. ","):gmatch("([^,]*),") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- %XX sequences decoded; nil when one is malformed.
local function percent_decode(s)
  if s:gsub("%%%x%x", ""):find("%", 1, true) then return nil end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
M.percent_decode = percent_decode

-- key=value pairs separated by commas, keys and values trimmed and
-- percent-decoded: the form of OTEL_RESOURCE_ATTRIBUTES and
-- OTEL_EXPORTER_OTLP_HEADERS (W3C Baggage's). A list without "=" in an
-- item, with an empty key, or with a bad %XX is refused whole.
function M.pairs(name, default)
  local v = raw(name)
  if v == nil then return default end
  local out = {}
  for item in (v .. ","):gmatch("([^,]*),") do
    if item:match("^%s*$") == nil then
      local k, val = item:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
      if not k or k == "" then fail(name, v, "not key=value,... (item '" .. item .. "')") end
      local dk, dv = percent_decode(k), percent_decode(val)
      if not dk or not dv then fail(name, v, "bad %XX escape in '" .. item .. "'") end
      out[dk] = dv
    end
  end
  return out
end

-- An http or https URL. One without a path (or with "/" alone) gets
-- path, the sink's conventional one, so a base URL works as it is.
function M.url(name, default, path)
  local v = raw(name)
  local u = v or default
  local scheme, rest = u:match("^(https?)://([^/?#]+.*)$")
  if not scheme then
    if v then fail(name, v, "not an http:// or https:// URL") end
    error("default URL " .. u .. " is not an http(s) URL")
  end
  if path and (rest:match("^[^/?#]+/?$")) then
    u = scheme .. "://" .. rest:gsub("/$", "") .. path
  end
  return u
end

-- Append a conventional path to a base URL the way OpenTelemetry's
-- OTEL_EXPORTER_OTLP_ENDPOINT is read: always, after one slash.
function M.join(base, path)
  return (base:gsub("/+$", "")) .. path
end

-- The core's batching keys for a script's config table: GATELOG_FLUSH_INTERVAL
-- (seconds) and GATELOG_BATCH_MAX (records) over the sink's defaults, and
-- GATELOG_QUEUE_MAX (records waiting again after failed sends; when unset,
-- the host's queue_max stands unless a batch would not fit in the core's
-- default of 500: then five batches).
function M.core(defaults)
  local c = {
    flush_interval = M.number("GATELOG_FLUSH_INTERVAL", defaults.flush_interval, 0.001, 31536000),
    batch_max = M.integer("GATELOG_BATCH_MAX", defaults.batch_max, 1, 4294967295),
  }
  c.queue_max = M.integer("GATELOG_QUEUE_MAX", c.batch_max > 500 and c.batch_max * 5 or nil, 1, 4294967295)
  if c.queue_max and c.queue_max < c.batch_max then
    fail("GATELOG_QUEUE_MAX", tostring(c.queue_max), "must be at least the batch size (" .. c.batch_max .. ")")
  end
  return c
end

-- What every HTTP script reads: GATELOG_URL (a base URL gets path),
-- GATELOG_AUTH (the Authorization header), GATELOG_CA_FILE (PEM CA
-- bundle for https), GATELOG_TIMEOUT (seconds), GATELOG_GZIP, and
-- GATELOG_HEADERS (extra headers, key=value,... percent-decoded).
-- d: { url =, path =, gzip =, timeout = } the script's defaults.
function M.http(d)
  return {
    url = M.url("GATELOG_URL", d.url, d.path),
    auth = M.string("GATELOG_AUTH"),
    ca = M.string("GATELOG_CA_FILE"),
    timeout = M.number("GATELOG_TIMEOUT", d.timeout or 30, 0.001, 3600),
    gzip = M.boolean("GATELOG_GZIP", d.gzip),
    headers = M.pairs("GATELOG_HEADERS", {}),
  }
end

local TLS_VERSIONS = { "1.2", "1.3" }

-- TLS for the stream transports (syslog over TLS, rediss://), from
-- GATELOG_TLS_CA_FILE, GATELOG_TLS_CA_DIR, GATELOG_TLS_SERVER_NAME,
-- GATELOG_TLS_CERT, GATELOG_TLS_KEY, GATELOG_TLS_VERIFY (default on) and
-- GATELOG_TLS_MIN_VERSION (1.2 or 1.3; default 1.2). on: TLS wanted by the
-- script's own setting (a tls transport, a rediss:// URL); returns the
-- tcp primitive's tls table, or nil when TLS is off.
function M.tls(on)
  if not on then return nil end
  local t = {
    ca_file = M.string("GATELOG_TLS_CA_FILE"),
    ca_dir = M.string("GATELOG_TLS_CA_DIR"),
    server_name = M.string("GATELOG_TLS_SERVER_NAME"),
    cert = M.string("GATELOG_TLS_CERT"),
    key = M.string("GATELOG_TLS_KEY"),
    verify = M.boolean("GATELOG_TLS_VERIFY", true),
    min_version = M.oneof("GATELOG_TLS_MIN_VERSION", "1.2", TLS_VERSIONS),
  }
  if (t.cert == nil) ~= (t.key == nil) then
    fail(t.cert and "GATELOG_TLS_KEY" or "GATELOG_TLS_CERT", "", "a client certificate needs both GATELOG_TLS_CERT and GATELOG_TLS_KEY")
  end
  return t
end

return M
