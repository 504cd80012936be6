-- The ready HTTP scripts (otlp, loki, elasticsearch, http-ndjson) against
-- an HTTP collector this spec runs on loopback: method, path, headers,
-- gzip bodies, the exact JSON shapes, and how answers are classified
-- (503 with Retry-After retried no sooner; 400 dropped and counted).
local cjson = require "cjson"
local zlib = require "zlib"
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

local function new(script, url, opts)
  servers.setenv("GATELOG_URL", url)
  servers.setenv("GATELOG_AUTH", "Bearer s3cret")
  opts = opts or {}
  opts.script = script:find("/", 1, true) and script or S.src .. "/scripts/" .. script
  opts.access_log = false
  opts.lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua"
  local logs = {}
  opts.log = function(level, msg) logs[#logs + 1] = { level = level, msg = msg } end
  opts.flush_interval = opts.flush_interval or 60
  return assert(gatelog.new(opts)), logs
end

local function body_of(req)
  if req.headers["content-encoding"] == "gzip" then return (zlib.inflate(31)(req.body)) end
  return req.body
end

-- Two sessions: TCP over IPv4 and UDP over IPv6.
local function two_sessions(gl)
  local a = gl:tcp_start(42, "203.0.113.7:51234", "10.0.0.5:443")
  gl:add_bytes(a, 100, 200)
  gl:tcp_end(a)
  local b = gl:udp_track(7, "[2001:db8::1]:5000", "[2001:db8::53]:53")
  gl:add_bytes(b, 30, 40)
  gl:udp_end(b)
  assert(gl:flush())
  return a, b
end

describe("http transport", function()
  local gl, c
  before_each(function() c = servers.http() end)
  after_each(function()
    if gl then gl:close(0.2) end
    gl = nil
    c:close()
    servers.unsetenv("GATELOG_URL")
    servers.unsetenv("GATELOG_AUTH")
  end)

  it("otlp.lua: POST /v1/logs, gzip, OTLP JSON with int64 as strings and attribute lists", function()
    gl = new("otlp.lua", c.url .. "/v1/logs")
    local a, b = two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end))
    local req = c.requests[1]
    assert.equal("POST", req.method)
    assert.equal("/v1/logs", req.path)
    assert.equal("application/json", req.headers["content-type"])
    assert.equal("gzip", req.headers["content-encoding"])
    assert.equal("Bearer s3cret", req.headers["authorization"])
    assert.matches("^%x+$", req.headers["x-gatelog-batch"])
    local doc = cjson.decode(body_of(req))
    local rl = doc.resourceLogs[1]
    assert.equal("service.name", rl.resource.attributes[1].key)
    assert.equal("gatelog", rl.resource.attributes[1].value.stringValue)
    assert.equal("host.name", rl.resource.attributes[2].key)
    local sl = rl.scopeLogs[1]
    assert.equal("gatelog", sl.scope.name)
    assert.equal(2, #sl.logRecords)
    local lr = sl.logRecords[1]
    assert.matches("^%d+$", lr.timeUnixNano)
    assert.equal(9, lr.severityNumber)
    assert.equal("tcp 203.0.113.7:51234 to 10.0.0.5:443 closed", lr.body.stringValue)
    local attrs = {}
    for _, kv in ipairs(lr.attributes) do attrs[kv.key] = kv.value end
    assert.same({ stringValue = a }, attrs["session.id"])
    assert.same({ intValue = "42" }, attrs["gatelog.resource_id"])
    assert.same({ stringValue = "203.0.113.7" }, attrs["source.address"])
    assert.same({ intValue = "51234" }, attrs["source.port"])
    assert.same({ intValue = "100" }, attrs["gatelog.bytes_tx"])
    assert.same({ stringValue = "closed" }, attrs["gatelog.end_reason"])
    -- The dedupe key: this gatelog's instance id and the sessionId.
    local instance = attrs["gatelog.record_id"].stringValue:match("^(%x+):" .. a .. "$")
    assert.equal(16, #instance)
    assert.same({ stringValue = req.headers["x-gatelog-batch"] }, attrs["gatelog.batch_id"])
    local attrs2 = {}
    for _, kv in ipairs(sl.logRecords[2].attributes) do attrs2[kv.key] = kv.value end
    assert.same({ stringValue = b }, attrs2["session.id"])
    assert.same({ stringValue = "2001:db8::1" }, attrs2["source.address"])
    assert.same({ stringValue = "udp" }, attrs2["network.transport"])
    assert.same({ stringValue = instance .. ":" .. b }, attrs2["gatelog.record_id"])
  end)

  it("loki.lua: the push API's streams, labels, lines and structured metadata", function()
    gl = new("loki.lua", c.url .. "/loki/api/v1/push")
    local a, b = two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end))
    local req = c.requests[1]
    assert.equal("/loki/api/v1/push", req.path)
    assert.equal("gzip", req.headers["content-encoding"])
    local doc = cjson.decode(body_of(req))
    assert.equal(2, #doc.streams)
    local tcp, udp = doc.streams[1], doc.streams[2]
    assert.equal("gatelog", tcp.stream.job)
    assert.equal("tcp", tcp.stream.protocol)
    assert.equal("udp", udp.stream.protocol)
    assert.is_string(tcp.stream.host)
    local v = tcp.values[1]
    assert.equal(3, #v)
    assert.matches("^%d+$", v[1])
    local line = cjson.decode(v[2])
    assert.equal(a, line.sessionId)
    assert.equal("closed", line.endReason)
    local instance = v[3].record_id:match("^(%x+):")
    assert.equal(16, #instance)
    assert.same({ session_id = a, record_id = instance .. ":" .. a }, v[3])
    assert.same({ session_id = b, record_id = instance .. ":" .. b }, udp.values[1][3])
    assert.equal("[2001:db8::1]:5000", cjson.decode(udp.values[1][2]).sourceAddr)
  end)

  it("elasticsearch.lua: _bulk create actions with _id = instance:sessionId, and a 409 counts as delivered", function()
    gl = new("elasticsearch.lua", c.url .. "/_bulk")
    c.respond = function(req)
      -- The first record is there already (a retry): 409 for it.
      return 200, { ["Content-Type"] = "application/json" }, cjson.encode({ errors = true, items = {
        { create = { status = 409, error = { type = "version_conflict_engine_exception" } } },
        { create = { status = 201 } } } })
    end
    local a, b = two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end))
    local req = c.requests[1]
    assert.equal("/_bulk", req.path)
    assert.equal("application/x-ndjson", req.headers["content-type"])
    local lines = {}
    for line in body_of(req):gmatch("([^\n]*)\n") do lines[#lines + 1] = cjson.decode(line) end
    assert.equal(4, #lines)
    local instance = lines[1].create._id:match("^(%x+):")
    assert.equal(16, #instance)
    assert.same({ create = { _index = "gatelog", _id = instance .. ":" .. a } }, lines[1])
    assert.equal(a, lines[2].sessionId)
    assert.matches("^%d%d%d%d%-", lines[2]["@timestamp"])
    assert.same({ create = { _index = "gatelog", _id = instance .. ":" .. b } }, lines[3])
    assert.equal(0, gl:stats().batches_failed)
  end)

  it("elasticsearch.lua: items rejected for good drop the batch", function()
    gl = new("elasticsearch.lua", c.url .. "/_bulk")
    c.respond = function()
      return 200, {}, cjson.encode({ errors = true, items = {
        { create = { status = 400, error = { type = "mapper_parsing_exception", reason = "bad" } } },
        { create = { status = 400, error = { type = "mapper_parsing_exception", reason = "bad" } } } } })
    end
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_rejected == 2 end))
    assert.equal(1, #c.requests)
  end)

  it("http-ndjson.lua: NDJSON lines, gzip, the Authorization header", function()
    gl = new("http-ndjson.lua", c.url .. "/ingest")
    local a = two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end))
    local req = c.requests[1]
    assert.equal("/ingest", req.path)
    assert.equal("application/x-ndjson", req.headers["content-type"])
    assert.equal("Bearer s3cret", req.headers["authorization"])
    local first = body_of(req):match("^[^\n]*")
    assert.equal(a, cjson.decode(first).sessionId)
  end)

  it("a 503 with Retry-After is retried, and not before that delay", function()
    gl = new("http-ndjson.lua", c.url .. "/ingest")
    local answers = 0
    c.respond = function()
      answers = answers + 1
      if answers == 1 then return 503, { ["Retry-After"] = "2" }, "busy" end
      return 200, {}, ""
    end
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end, 15))
    assert.equal(2, #c.requests)
    assert.is_true(c.requests[2].at - c.requests[1].at >= 2 - 0.05)
    assert.equal(c.requests[1].headers["x-gatelog-batch"], c.requests[2].headers["x-gatelog-batch"])
    local st = gl:stats()
    assert.equal(1, st.batches_failed)
    assert.equal(1, st.batches_retried)
    assert.equal(0, st.batches_rejected)
  end)

  it("answers that can pass are retried until the batch is delivered, never dropped", function()
    gl = new("http-ndjson.lua", c.url .. "/ingest", { retry_max = 0.02 })
    local answers = { 408, 425, 429, 500, 503, 302, 401, 403, 404 }
    c.respond = function()
      local st = table.remove(answers, 1)
      return st or 200, {}, st and "not now" or ""
    end
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end, 15))
    assert.equal(10, #c.requests)
    for _, req in ipairs(c.requests) do assert.equal(c.requests[1].headers["x-gatelog-batch"], req.headers["x-gatelog-batch"]) end
    local st = gl:stats()
    assert.equal(9, st.batches_failed)
    assert.equal(0, st.batches_rejected)
  end)

  it("a redirect loop and a connection reset are retried", function()
    local fixture = S.fixture("http_follow.lua")
    gl = new(fixture, c.url .. "/ingest", { retry_max = 0.02 })
    local hangups, loops = 1, 8 -- two attempts end in a loop of 1 + 3 redirects
    c.respond = function(req)
      if hangups > 0 then
        hangups = hangups - 1
        return nil
      end
      if loops > 0 then
        loops = loops - 1
        return 302, { Location = req.path }, ""
      end
      return 200, {}, ""
    end
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().records_sent == 2 end, 15))
    local st = gl:stats()
    assert.equal(3, st.batches_failed)
    assert.equal(0, st.batches_rejected)
  end)

  it("a 400 is not retried: the batch is dropped, counted and logged with the answer", function()
    local logs
    gl, logs = new("http-ndjson.lua", c.url .. "/ingest")
    c.respond = function() return 400, {}, '{"error":"field bytesTx: wrong type"}' end
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, { c }, function() return gl:stats().batches_rejected == 1 end))
    servers.run_until(gl, { c }, function() return false end, 1.5) -- past a backoff: no retry
    local st = gl:stats()
    assert.equal(1, #c.requests)
    assert.equal(2, st.records_rejected)
    assert.equal(0, st.records_queued)
    local said = false
    for _, l in ipairs(logs) do
      said = said or (l.level == "error" and l.msg:find("HTTP 400", 1, true) and l.msg:find("wrong type", 1, true)) ~= nil
    end
    assert.is_true(said)
  end)

  it("a collector that is down is retried until it comes back", function()
    local port = servers.free_port()
    gl = new("http-ndjson.lua", "http://127.0.0.1:" .. port .. "/ingest")
    two_sessions(gl)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 1 end))
    assert.equal(0, gl:stats().batches_rejected)
  end)
end)

describe("http transport helpers", function()
  local http
  setup(function()
    package.loaded["gatelog.core"] = { now = function() return 1445412480 end } -- 2015-10-21T07:28:00Z
    http = require "gatelog.transport.http"
  end)
  teardown(function() package.loaded["gatelog.core"] = nil end)

  it("Retry-After: seconds or an HTTP date, never negative, at most an hour", function()
    assert.equal(120, http.retry_after("120"))
    assert.equal(30, http.retry_after("Wed, 21 Oct 2015 07:28:30 GMT", 1445412480))
    assert.equal(0, http.retry_after("Wed, 21 Oct 2015 07:00:00 GMT", 1445412480))
    assert.equal(3600, http.retry_after("86400"))
    assert.is_nil(http.retry_after("soon"))
    assert.is_nil(http.retry_after(nil))
  end)

  it("classifies statuses", function()
    assert.equal("ok", http.classify(204))
    for _, st in ipairs({ 301, 302, 307, 308, 401, 403, 404, 408, 425, 429, 500, 502, 503, 504 }) do
      assert.equal("retry", http.classify(st))
    end
    for _, st in ipairs({ 400, 405, 411, 413, 415, 422 }) do assert.equal("permanent", http.classify(st)) end
  end)
end)
