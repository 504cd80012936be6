-- Each codec's exact output on fixed records (IPv4 and IPv6, an interim
-- record, an enrichment string that needs escaping), and on records a
-- core made: the fast path the core's "no escaping needed" mark allows
-- gives the same bytes as the general path.
local cjson = require "cjson"
local S = require "support"
local codecs = require "gatelog.codec"
local record = require "gatelog.record"

local NOTE = 'say "hi" <b> & \\ ]\n\226\128\168'

local function fixed()
  return {
    { sessionId = "9f2c1a7b3d4e5f60", resourceId = 42, sourceAddr = "203.0.113.7:51234", destAddr = "10.0.0.5:443",
      protocol = "tcp", startedAt = "2026-11-27T10:00:00.123456789Z", endedAt = "2026-11-27T10:00:05.9876Z",
      bytesTx = 12345, bytesRx = 67890, final = true, endReason = "closed", note = NOTE, site = "edge-1" },
    { sessionId = "0123456789abcdef", resourceId = 7, sourceAddr = "[2001:db8::1]:5000", destAddr = "[2001:db8::53]:53",
      protocol = "udp", startedAt = "2026-11-27T10:00:00Z", endedAt = "2026-11-27T10:01:00Z",
      bytesTx = 9007199254740991, bytesRx = 0, final = false, seq = 1, deltaTx = 100, deltaRx = 0, ratio = 0.25 },
  }
end
local OPTS = { hostname = "edge-1", host_name = "edge-1" }

local WANT = {
  ndjson = [==[
{"sessionId":"9f2c1a7b3d4e5f60","resourceId":42,"sourceAddr":"203.0.113.7:51234","destAddr":"10.0.0.5:443","protocol":"tcp","startedAt":"2026-11-27T10:00:00.123456789Z","endedAt":"2026-11-27T10:00:05.9876Z","bytesTx":12345,"bytesRx":67890,"final":true,"endReason":"closed","note":"say \"hi\" \u003cb\u003e \u0026 \\ ]\n\u2028","site":"edge-1"}
{"sessionId":"0123456789abcdef","resourceId":7,"sourceAddr":"[2001:db8::1]:5000","destAddr":"[2001:db8::53]:53","protocol":"udp","startedAt":"2026-11-27T10:00:00Z","endedAt":"2026-11-27T10:01:00Z","bytesTx":9007199254740991,"bytesRx":0,"final":false,"seq":1,"deltaTx":100,"deltaRx":0,"ratio":0.25}
]==],
  otlp = [==[
{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gatelog"}},{"key":"host.name","value":{"stringValue":"edge-1"}}]},"scopeLogs":[{"scope":{"name":"gatelog","version":"0.1.0"},"logRecords":[{"timeUnixNano":"1795773605987600000","observedTimeUnixNano":"1795773605987600000","severityNumber":9,"severityText":"INFO","body":{"stringValue":"tcp 203.0.113.7:51234 to 10.0.0.5:443 closed"},"attributes":[{"key":"session.id","value":{"stringValue":"9f2c1a7b3d4e5f60"}},{"key":"gatelog.resource_id","value":{"intValue":"42"}},{"key":"network.transport","value":{"stringValue":"tcp"}},{"key":"source.address","value":{"stringValue":"203.0.113.7"}},{"key":"source.port","value":{"intValue":"51234"}},{"key":"destination.address","value":{"stringValue":"10.0.0.5"}},{"key":"destination.port","value":{"intValue":"443"}},{"key":"gatelog.started_at","value":{"stringValue":"2026-11-27T10:00:00.123456789Z"}},{"key":"gatelog.bytes_tx","value":{"intValue":"12345"}},{"key":"gatelog.bytes_rx","value":{"intValue":"67890"}},{"key":"gatelog.end_reason","value":{"stringValue":"closed"}},{"key":"gatelog.final","value":{"boolValue":true}},{"key":"note","value":{"stringValue":"say \"hi\" \u003cb\u003e \u0026 \\ ]\n\u2028"}},{"key":"site","value":{"stringValue":"edge-1"}}]},{"timeUnixNano":"1795773660000000000","observedTimeUnixNano":"1795773660000000000","severityNumber":9,"severityText":"INFO","body":{"stringValue":"udp [2001:db8::1]:5000 to [2001:db8::53]:53"},"attributes":[{"key":"session.id","value":{"stringValue":"0123456789abcdef"}},{"key":"gatelog.resource_id","value":{"intValue":"7"}},{"key":"network.transport","value":{"stringValue":"udp"}},{"key":"source.address","value":{"stringValue":"2001:db8::1"}},{"key":"source.port","value":{"intValue":"5000"}},{"key":"destination.address","value":{"stringValue":"2001:db8::53"}},{"key":"destination.port","value":{"intValue":"53"}},{"key":"gatelog.started_at","value":{"stringValue":"2026-11-27T10:00:00Z"}},{"key":"gatelog.bytes_tx","value":{"intValue":"9007199254740991"}},{"key":"gatelog.bytes_rx","value":{"intValue":"0"}},{"key":"gatelog.final","value":{"boolValue":false}},{"key":"gatelog.seq","value":{"intValue":"1"}},{"key":"gatelog.delta_tx","value":{"intValue":"100"}},{"key":"gatelog.delta_rx","value":{"intValue":"0"}},{"key":"ratio","value":{"doubleValue":0.25}}]}]}]}]}]==],
  loki = [==[
{"streams":[{"stream":{"job":"gatelog","protocol":"tcp"},"values":[["1795773605987600000","{\"sessionId\":\"9f2c1a7b3d4e5f60\",\"resourceId\":42,\"sourceAddr\":\"203.0.113.7:51234\",\"destAddr\":\"10.0.0.5:443\",\"protocol\":\"tcp\",\"startedAt\":\"2026-11-27T10:00:00.123456789Z\",\"endedAt\":\"2026-11-27T10:00:05.9876Z\",\"bytesTx\":12345,\"bytesRx\":67890,\"final\":true,\"endReason\":\"closed\",\"note\":\"say \\\"hi\\\" \\u003cb\\u003e \\u0026 \\\\ ]\\n\\u2028\",\"site\":\"edge-1\"}",{"session_id":"9f2c1a7b3d4e5f60"}]]},{"stream":{"job":"gatelog","protocol":"udp"},"values":[["1795773660000000000","{\"sessionId\":\"0123456789abcdef\",\"resourceId\":7,\"sourceAddr\":\"[2001:db8::1]:5000\",\"destAddr\":\"[2001:db8::53]:53\",\"protocol\":\"udp\",\"startedAt\":\"2026-11-27T10:00:00Z\",\"endedAt\":\"2026-11-27T10:01:00Z\",\"bytesTx\":9007199254740991,\"bytesRx\":0,\"final\":false,\"seq\":1,\"deltaTx\":100,\"deltaRx\":0,\"ratio\":0.25}",{"session_id":"0123456789abcdef"}]]}]}]==],
  elasticsearch = [==[
{"create":{"_index":"gatelog","_id":"9f2c1a7b3d4e5f60"}}
{"@timestamp":"2026-11-27T10:00:05.9876Z","sessionId":"9f2c1a7b3d4e5f60","resourceId":42,"sourceAddr":"203.0.113.7:51234","destAddr":"10.0.0.5:443","protocol":"tcp","startedAt":"2026-11-27T10:00:00.123456789Z","endedAt":"2026-11-27T10:00:05.9876Z","bytesTx":12345,"bytesRx":67890,"final":true,"endReason":"closed","note":"say \"hi\" \u003cb\u003e \u0026 \\ ]\n\u2028","site":"edge-1"}
{"create":{"_index":"gatelog","_id":"0123456789abcdef-1"}}
{"@timestamp":"2026-11-27T10:01:00Z","sessionId":"0123456789abcdef","resourceId":7,"sourceAddr":"[2001:db8::1]:5000","destAddr":"[2001:db8::53]:53","protocol":"udp","startedAt":"2026-11-27T10:00:00Z","endedAt":"2026-11-27T10:01:00Z","bytesTx":9007199254740991,"bytesRx":0,"final":false,"seq":1,"deltaTx":100,"deltaRx":0,"ratio":0.25}
]==],
}

describe("codecs on fixed records", function()
  for _, name in ipairs({ "ndjson", "otlp", "loki", "elasticsearch" }) do
    it(name .. " writes exactly the expected body", function()
      local body = codecs.get(name).encode(fixed(), OPTS)
      assert.equal(WANT[name], body)
      if name ~= "ndjson" and name ~= "elasticsearch" then assert.is_table(cjson.decode(body)) end
    end)
  end

  it("dedupe keys carry the instance id: elasticsearch _id, otlp and loki record ids", function()
    local opts = { instance_id = "edge-7" }
    local es = codecs.get("elasticsearch").encode(fixed(), opts)
    assert.truthy(es:find('"_id":"edge-7:9f2c1a7b3d4e5f60"', 1, true))
    assert.truthy(es:find('"_id":"edge-7:0123456789abcdef-1"', 1, true))
    local doc = cjson.decode(codecs.get("otlp").encode(fixed(), opts))
    local ids = {}
    for i, lr in ipairs(doc.resourceLogs[1].scopeLogs[1].logRecords) do
      for _, kv in ipairs(lr.attributes) do
        if kv.key == "gatelog.record_id" then ids[i] = kv.value.stringValue end
      end
    end
    assert.same({ "edge-7:9f2c1a7b3d4e5f60", "edge-7:0123456789abcdef-1" }, ids)
    doc = cjson.decode(codecs.get("loki").encode(fixed(), opts))
    assert.same({ session_id = "9f2c1a7b3d4e5f60", record_id = "edge-7:9f2c1a7b3d4e5f60" },
      doc.streams[1].values[1][3])
    -- A batch brings its own instance id (and otlp its id); the option wins.
    local batch = { payload = "x", id = "00000000000000aa", instance_id = "gw-1", records = fixed() }
    assert.truthy(codecs.get("elasticsearch").encode(batch):find('"_id":"gw-1:9f2c1a7b3d4e5f60"', 1, true))
    assert.truthy(codecs.get("elasticsearch").encode(batch, opts):find('"_id":"edge-7:9f2c', 1, true))
    assert.truthy(codecs.get("otlp").encode(batch):find(
      '{"key":"gatelog.batch_id","value":{"stringValue":"00000000000000aa"}}', 1, true))
  end)

  it("ndjson and elasticsearch bodies are lines of JSON", function()
    for _, name in ipairs({ "ndjson", "elasticsearch" }) do
      local n = 0
      for line in codecs.get(name).encode(fixed()):gmatch("([^\n]*)\n") do
        n = n + 1
        assert.is_table(cjson.decode(line))
      end
      assert.equal(name == "ndjson" and 2 or 4, n)
    end
    local doc = cjson.decode(WANT.ndjson:match("^[^\n]*"))
    assert.equal(NOTE, doc.note)
  end)

  it("syslog: RFC 5424 messages with structured data, framed by octet counting", function()
    local body = codecs.get("syslog").encode(fixed(), OPTS)
    local msgs, pos = {}, 1
    while pos <= #body do
      local len, rest = body:match("^(%d+) ()", pos)
      assert.truthy(len, "no octet count at " .. pos)
      msgs[#msgs + 1] = body:sub(rest, rest + tonumber(len) - 1)
      pos = rest + tonumber(len)
    end
    assert.equal(2, #msgs)
    assert.same(msgs, codecs.get("syslog").messages(fixed(), OPTS))
    assert.equal('<134>1 2026-11-27T10:00:05.9876Z edge-1 gatelog - access [gatelog@32473 ' ..
      'sessionId="9f2c1a7b3d4e5f60" resourceId="42" sourceAddr="203.0.113.7:51234" destAddr="10.0.0.5:443" ' ..
      'protocol="tcp" startedAt="2026-11-27T10:00:00.123456789Z" endedAt="2026-11-27T10:00:05.9876Z" ' ..
      'bytesTx="12345" bytesRx="67890" final="true" endReason="closed" ' ..
      'note="say \\"hi\\" <b> & \\\\ \\]\n\226\128\168" site="edge-1"] ' ..
      'tcp 203.0.113.7:51234 -> 10.0.0.5:443 closed', msgs[1])
    assert.equal('<134>1 2026-11-27T10:01:00Z edge-1 gatelog - access [gatelog@32473 ' ..
      'sessionId="0123456789abcdef" resourceId="7" sourceAddr="[2001:db8::1\\]:5000" ' ..
      'destAddr="[2001:db8::53\\]:53" protocol="udp" startedAt="2026-11-27T10:00:00Z" ' ..
      'endedAt="2026-11-27T10:01:00Z" bytesTx="9007199254740991" bytesRx="0" final="false" seq="1" ' ..
      'deltaTx="100" deltaRx="0" ratio="0.25"] udp [2001:db8::1]:5000 -> [2001:db8::53]:53', msgs[2])
  end)

  it("syslog: six fraction digits at most, header fields without spaces, safe parameter names", function()
    local r = fixed()[1]
    r.endedAt = "2026-11-27T10:00:05.123456789Z"
    r["odd key=\"x\""] = 1
    local m = codecs.get("syslog").message(r, { hostname = "my host", facility = 4, severity = 3 })
    assert.matches("^<35>1 2026%-11%-27T10:00:05%.123456Z my_host gatelog ", m)
    assert.truthy(m:find(' odd_key__x_="1"', 1, true))
  end)

  it("newt is the core's payload and needs the batch", function()
    local newt = codecs.get("newt")
    assert.equal("abc", newt.encode({ payload = "abc", records = {} }))
    assert.has_error(function() newt.encode(fixed()) end)
  end)

  it("an unknown codec name is an error that lists the known ones", function()
    local ok, err = pcall(codecs.get, "xml")
    assert.is_false(ok)
    assert.matches("unknown codec 'xml'.*otlp", err)
  end)

  it("record helpers: times to nanoseconds, addresses split", function()
    assert.equal("1795773605987600000", record.unix_nanos("2026-11-27T10:00:05.9876Z"))
    assert.equal("1795773605000000000", record.unix_nanos("2026-11-27T10:00:05Z"))
    assert.equal("1795773605123456789", record.unix_nanos("2026-11-27T10:00:05.123456789Z"))
    assert.equal("500000000", record.unix_nanos("1970-01-01T00:00:00.5Z"))
    assert.is_nil(record.unix_nanos("yesterday"))
    assert.same({ "2001:db8::1", 5000 }, { record.split_addr("[2001:db8::1]:5000") })
    assert.same({ "10.0.0.1", 53 }, { record.split_addr("10.0.0.1:53") })
    assert.same({ "redacted" }, { record.split_addr("redacted") })
  end)
end)

describe("codecs on a core's records", function()
  it("give the same bytes on the fast path as on the general path, and newt is the payload", function()
    local gl, cap = S.new({ script = S.fixture("codec_paths.lua"), flush_interval = 60 })
    local sid = gl:tcp_start(1, "[2001:db8::7]:4000", "10.0.0.2:80")
    gl:add_bytes(sid, 10, 20)
    gl:tcp_end(sid)
    gl:udp_end(gl:udp_track(2, "192.0.2.9:53000", "198.51.100.1:53"))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end))
    local b = cap.batches[1]
    assert.is_true(b.safe)
    for _, name in ipairs({ "ndjson", "otlp", "loki", "elasticsearch", "syslog" }) do
      assert.is_true(b.same[name], name)
    end
    assert.is_true(b.newt_is_payload)
    gl:close(1)
  end)

  it("batch.records decodes every escape the core writes, and is not marked then", function()
    local gl, cap = S.new({ script = S.fixture("records_escapes.lua"), flush_interval = 60 })
    gl:tcp_end(gl:tcp_start(1, "[2001:db8::7]:4000", "10.0.0.2:80"), "gateway_said_\"no\"")
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end))
    local b = cap.batches[1]
    local r = b.records[1]
    assert.is_false(b.safe)
    -- The invalid byte became U+FFFD; the rest is what enrich set.
    assert.equal('q"\\<>&\n\t\1' .. "\226\128\168" .. "\195\169" .. "\239\191\189" .. "\240\159\152\128", r.note)
    assert.equal(0.5, r.ratio)
    assert.is_false(r.flag)
    assert.is_true(r.final)
    assert.equal('gateway_said_"no"', r.endReason)
    assert.equal("[2001:db8::7]:4000", r.sourceAddr)
    gl:close(1)
  end)

  it("scripts/newt.lua hands the default payload to the host's sender", function()
    local gatelog = require "gatelog"
    local gl = assert(gatelog.new{ script = S.src .. "/scripts/newt.lua", access_log = false, flush_interval = 60,
      lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" })
    local got = {}
    assert(gl:register_sender("control", function(payload, reply)
      got[#got + 1] = payload
      reply(true)
    end))
    local sid = gl:tcp_start(9, "[2001:db8::9]:443", "10.0.0.9:8443")
    gl:tcp_end(sid)
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 1 end))
    local recs = S.decode(got[1])
    assert.equal(1, #recs)
    assert.equal(sid, recs[1].sessionId)
    assert.equal("[2001:db8::9]:443", recs[1].sourceAddr)
    assert.is_nil(recs[1].endReason) -- exactly the reference's keys
    gl:close(1)
  end)
end)

