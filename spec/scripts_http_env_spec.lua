-- The ready HTTP scripts (otlp, loki, elasticsearch, http-ndjson) set up
-- from the environment alone, against an HTTP collector on loopback: base
-- URLs get the sink's path, OpenTelemetry's OTEL_ variables as its
-- specification reads them, gzip and headers, the core's batching keys;
-- and a bad value fails gatelog.new naming the variable and the value.
local cjson = require "cjson"
local zlib = require "zlib"
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

local VARS = { "GATELOG_URL", "GATELOG_GZIP", "GATELOG_HEADERS", "GATELOG_BATCH_MAX",
  "GATELOG_FLUSH_INTERVAL", "GATELOG_TIMEOUT", "GATELOG_CA_FILE", "GATELOG_TENANT", "GATELOG_LOKI_LABELS",
  "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_COMPRESSION" }

local function setenv(t)
  for k, v in pairs(t) do servers.setenv(k, v) end
end

local function new(script)
  return gatelog.new{ script = S.src .. "/scripts/" .. script, access_log = false,
    lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua", log = function() end }
end

local function body_of(req)
  if req.headers["content-encoding"] == "gzip" then return (zlib.inflate(31)(req.body)) end
  return req.body
end

-- n TCP sessions, ended; returns their ids.
local function sessions(gl, n)
  local ids = {}
  for i = 1, n do
    ids[i] = gl:tcp_start(i, "203.0.113.7:" .. (40000 + i), "10.0.0.5:443")
    gl:tcp_end(ids[i])
  end
  return ids
end

describe("ready HTTP scripts from the environment", function()
  local gl, c
  before_each(function() c = servers.http() end)
  after_each(function()
    if gl then gl:close(0.2) end
    gl = nil
    c:close()
    for _, k in ipairs(VARS) do servers.unsetenv(k) end
  end)

  it("otlp.lua: OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/logs; headers, service name and resource attributes decoded", function()
    setenv{ OTEL_EXPORTER_OTLP_ENDPOINT = c.url .. "/otlp/",
      OTEL_EXPORTER_OTLP_HEADERS = "X-Api-Key=k%3D1,X-Tenant=t1",
      OTEL_EXPORTER_OTLP_LOGS_HEADERS = "X-Tenant=t2",
      OTEL_RESOURCE_ATTRIBUTES = "service.name=ignored,deployment.environment=eu%20west",
      OTEL_SERVICE_NAME = "edge-gw", GATELOG_BATCH_MAX = "2" }
    gl = assert(new("otlp.lua"))
    sessions(gl, 4)
    -- batch_max 2 from the environment: two batches without a flush.
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 4 end, 10))
    assert.equal(2, #c.requests)
    local req = c.requests[1]
    assert.equal("/otlp/v1/logs", req.path)
    assert.equal("k=1", req.headers["x-api-key"])
    assert.equal("t2", req.headers["x-tenant"])
    assert.equal("gzip", req.headers["content-encoding"])
    local attrs = {}
    for _, kv in ipairs(cjson.decode(body_of(req)).resourceLogs[1].resource.attributes) do
      attrs[kv.key] = kv.value.stringValue
    end
    assert.equal("edge-gw", attrs["service.name"])
    assert.equal("eu west", attrs["deployment.environment"])
  end)

  it("otlp.lua: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is used as it is, over the generic one", function()
    setenv{ OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = c.url .. "/custom",
      OTEL_EXPORTER_OTLP_COMPRESSION = "none" }
    gl = assert(new("otlp.lua"))
    sessions(gl, 1)
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 1 end))
    assert.equal("/custom", c.requests[1].path)
    assert.is_nil(c.requests[1].headers["content-encoding"])
  end)

  it("loki.lua and elasticsearch.lua: a base URL gets the conventional path; gzip, tenant and labels", function()
    setenv{ GATELOG_URL = c.url, GATELOG_TENANT = "team-a", GATELOG_LOKI_LABELS = "site=par1" }
    gl = assert(new("loki.lua"))
    sessions(gl, 1)
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 1 end))
    gl:close(0.2)
    assert.equal("/loki/api/v1/push", c.requests[1].path)
    assert.equal("team-a", c.requests[1].headers["x-scope-orgid"])
    assert.equal("par1", cjson.decode(body_of(c.requests[1])).streams[1].stream.site)

    setenv{ GATELOG_URL = c.url .. "/", GATELOG_GZIP = "yes", GATELOG_HEADERS = "X-Opaque-Id=gw%201" }
    c.respond = function() return 200, { ["Content-Type"] = "application/json" }, '{"errors":false,"items":[]}' end
    gl = assert(new("elasticsearch.lua"))
    sessions(gl, 1)
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 1 end))
    local req = c.requests[2]
    assert.equal("/_bulk", req.path)
    assert.equal("gzip", req.headers["content-encoding"])
    assert.equal("gw 1", req.headers["x-opaque-id"])
    assert.truthy(body_of(req):find('"create"', 1, true))
  end)

  it("http-ndjson.lua: GATELOG_GZIP=off sends plain NDJSON; the URL is taken as it is", function()
    setenv{ GATELOG_URL = c.url .. "/ingest", GATELOG_GZIP = "off" }
    gl = assert(new("http-ndjson.lua"))
    local ids = sessions(gl, 2)
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end))
    local req = c.requests[1]
    assert.equal("/ingest", req.path)
    assert.is_nil(req.headers["content-encoding"])
    local got = {}
    for line in req.body:gmatch("[^\n]+") do got[#got + 1] = cjson.decode(line).sessionId end
    assert.same(ids, got)
  end)

  local bad = {
    { "otlp.lua", "OTEL_EXPORTER_OTLP_HEADERS", "Authorization" },
    { "otlp.lua", "OTEL_RESOURCE_ATTRIBUTES", "a=%G1" },
    { "otlp.lua", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc" },
    { "otlp.lua", "OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318" },
    { "loki.lua", "GATELOG_GZIP", "maybe" },
    { "elasticsearch.lua", "GATELOG_URL", "127.0.0.1:9200" },
    { "elasticsearch.lua", "GATELOG_TIMEOUT", "30s" },
    { "http-ndjson.lua", "GATELOG_FLUSH_INTERVAL", "soon" },
    { "http-ndjson.lua", "GATELOG_BATCH_MAX", "-5" },
  }
  for _, case in ipairs(bad) do
    local script, var, value = case[1], case[2], case[3]
    it(script .. " refuses " .. var .. "=" .. value .. ", naming both", function()
      servers.setenv(var, value)
      local g, err = new(script)
      assert.is_nil(g)
      assert.truthy(err:find(var .. '="' .. value .. '"', 1, true), err)
    end)
  end
end)
