-- The ready stream and local scripts (syslog, redis, nats, default, newt) set
-- up from the environment alone: syslog's facility, severity, APP-NAME,
-- MSGID and SD-ID on the wire (a TCP sink on loopback), the core's
-- batching keys; and a bad value fails gatelog.new naming the variable
-- and the value (no server needed: the script refuses at load).
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

local VARS = { "GATELOG_SYSLOG_PORT", "GATELOG_SYSLOG_FACILITY", "GATELOG_SYSLOG_SEVERITY",
  "GATELOG_SYSLOG_APP_NAME", "GATELOG_SYSLOG_MSGID", "GATELOG_SYSLOG_SD_ID", "GATELOG_SYSLOG_TRANSPORT",
  "GATELOG_BATCH_MAX", "GATELOG_FLUSH_INTERVAL", "GATELOG_REDIS_URL", "GATELOG_REDIS_PORT",
  "GATELOG_REDIS_MAXLEN", "GATELOG_REDIS_DB", "GATELOG_TLS_VERIFY", "GATELOG_TLS_CERT", "GATELOG_SENDER",
  "GATELOG_NATS_PER", "GATELOG_NATS_ACK_TIMEOUT", "GATELOG_NATS_MAX_INFLIGHT", "GATELOG_NATS_CERT" }

local function new(script)
  return gatelog.new{ script = S.src .. "/scripts/" .. script, access_log = false,
    lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua", log = function() end }
end

describe("ready stream scripts from the environment", function()
  local gl, sink
  after_each(function()
    if gl then gl:close(0.2) end
    gl = nil
    if sink then sink:close() end
    sink = nil
    for _, k in ipairs(VARS) do servers.unsetenv(k) end
  end)

  it("syslog.lua: facility and severity by name, APP-NAME, MSGID and SD-ID as set", function()
    sink = servers.tcp_sink()
    for k, v in pairs{ GATELOG_SYSLOG_PORT = tostring(sink.port), GATELOG_SYSLOG_FACILITY = "local5",
      GATELOG_SYSLOG_SEVERITY = "notice", GATELOG_SYSLOG_APP_NAME = "edge-gw", GATELOG_SYSLOG_MSGID = "sess",
      GATELOG_SYSLOG_SD_ID = "access@54321", GATELOG_BATCH_MAX = "3" } do servers.setenv(k, v) end
    gl = assert(new("syslog.lua"))
    local ids = {}
    for i = 1, 3 do
      ids[i] = gl:tcp_start(i, "203.0.113.1:4000" .. i, "10.0.0.5:443")
      gl:tcp_end(ids[i])
    end
    -- batch_max 3: sealed and sent without a flush.
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 3 end, 10))
    sink:step()
    local n = 0
    -- local5 (21) * 8 + notice (5) = 173
    for id in sink.data:gmatch("<173>1 %S+ %S+ edge%-gw %- sess %[access@54321 sessionId=\"(%x+)\"") do
      n = n + 1
      assert.equal(ids[n], id)
    end
    assert.equal(3, n)
  end)

  local bad = {
    { "syslog.lua", "GATELOG_SYSLOG_PORT", "abc" },
    { "syslog.lua", "GATELOG_SYSLOG_PORT", "70000" },
    { "syslog.lua", "GATELOG_SYSLOG_FACILITY", "local9" },
    { "syslog.lua", "GATELOG_SYSLOG_SEVERITY", "8" },
    { "syslog.lua", "GATELOG_SYSLOG_APP_NAME", "two words" },
    { "syslog.lua", "GATELOG_SYSLOG_SD_ID", "bad]id" },
    { "syslog.lua", "GATELOG_SYSLOG_SD_ID", "access@example" },
    { "syslog.lua", "GATELOG_SYSLOG_TRANSPORT", "sctp" },
    { "syslog.lua", "GATELOG_TLS_VERIFY", "perhaps", { GATELOG_SYSLOG_TRANSPORT = "tls" } },
    { "redis.lua", "GATELOG_REDIS_PORT", "redis" },
    { "redis.lua", "GATELOG_REDIS_URL", "http://127.0.0.1:6379" },
    { "redis.lua", "GATELOG_REDIS_URL", "redis://127.0.0.1:99999" },
    { "redis.lua", "GATELOG_REDIS_MAXLEN", "lots" },
    { "redis.lua", "GATELOG_REDIS_DB", "x" },
    { "redis.lua", "GATELOG_TLS_CERT", "/c.pem", { GATELOG_REDIS_URL = "rediss://127.0.0.1" } },
    { "nats.lua", "GATELOG_NATS_PER", "session" },
    { "nats.lua", "GATELOG_NATS_ACK_TIMEOUT", "soon" },
    { "nats.lua", "GATELOG_NATS_MAX_INFLIGHT", "0" },
    { "nats.lua", "GATELOG_NATS_CERT", "/c.pem" },
    { "nats.lua", "GATELOG_FLUSH_INTERVAL", "1s" },
    { "default.lua", "GATELOG_FLUSH_INTERVAL", "1m" },
    { "newt.lua", "GATELOG_BATCH_MAX", "many" },
  }
  for _, case in ipairs(bad) do
    local script, var, value, also = case[1], case[2], case[3], case[4]
    it(script .. " refuses " .. var .. "=" .. value, function()
      for k, v in pairs(also or {}) do servers.setenv(k, v) end
      servers.setenv(var, value)
      local g, err = new(script)
      assert.is_nil(g)
      -- The variable is named; the value too, unless the fault is a missing partner.
      assert.truthy(err:find(var, 1, true), err)
      if var ~= "GATELOG_TLS_CERT" and var ~= "GATELOG_NATS_CERT" then assert.truthy(err:find('="' .. value .. '"', 1, true), err) end
    end)
  end
end)
