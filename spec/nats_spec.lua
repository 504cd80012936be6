-- scripts/nats.lua and the nats transport against a real nats-server with
-- JetStream, started on loopback: records arrive once each with their
-- subject and Nats-Msg-Id, acknowledgements swallowed make a retry that
-- stores nothing twice, bad settings are errors that lose nothing.
-- (The three-node cluster is spec/nats_cluster_spec.lua.)
local gatelog = require "gatelog"
local cjson = require "cjson"
local S = require "support"
local servers = require "servers"

describe("nats transport, offline", function()
  local nats
  setup(function()
    package.loaded["gatelog.core"] = {}
    nats = require "gatelog.transport.nats"
  end)
  teardown(function()
    package.loaded["gatelog.core"] = nil
    package.loaded["gatelog.transport.nats"] = nil
  end)

  it("fills the subject's placeholders and makes ids of instance, session and seq", function()
    local r = { sessionId = "a06f34802cfba3cd", resourceId = 42, protocol = "udp" }
    assert.equal("gl.42.udp", nats.subject("gl.{resourceId}.{protocol}", r))
    assert.equal("gl.plain", nats.subject("gl.plain", r))
    assert.equal("edge-1-a06f34802cfba3cd", nats.msg_id("edge-1", r))
    r.seq = 3
    assert.equal("edge-1-a06f34802cfba3cd-3", nats.msg_id("edge-1", r))
  end)

  it("refuses settings it cannot follow", function()
    assert.has_error(function() nats.new{ per = "session" } end)
    assert.has_error(function() nats.new{ per = "batch", subject = "gl.{resourceId}" } end)
  end)
end)

if not servers.have("nats-server") then
  describe("nats jetstream", function()
    pending("nats-server is not installed (Debian package nats-server, in dev/packages.txt): skipped")
  end)
  return
end

local N = require "nats_support"

local ENV = { "GATELOG_NATS_URL", "GATELOG_NATS_SUBJECT", "GATELOG_NATS_USER", "GATELOG_NATS_PASSWORD",
  "GATELOG_NATS_PER", "GATELOG_NATS_ACK_TIMEOUT", "GATELOG_NATS_TOKEN", "GATELOG_NATS_CA" }

-- A core running scripts/nats.lua with env (name -> value) set; its log lines.
local function new(env, opts)
  for _, k in ipairs(ENV) do servers.unsetenv(k) end
  for k, v in pairs(env) do servers.setenv(k, v) end
  local logs = {}
  local o = { script = S.src .. "/scripts/nats.lua", access_log = false, flush_interval = 60, batch_max = 50,
    queue_max = 10000, retry_max = 0.2, log = function(_, m) logs[#logs + 1] = m end,
    lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(gatelog.new(o)), logs
end

local function sessions(gl, n, first)
  local sids = {}
  for i = 1, n do
    local sid = gl:tcp_start((first or 0) + i, "203.0.113.9:" .. (1000 + i), "10.0.0.5:443")
    gl:add_bytes(sid, i, 10 * i)
    gl:tcp_end(sid)
    sids[#sids + 1] = sid
  end
  return sids
end

local function logged(logs, text)
  for _, l in ipairs(logs) do if l:find(text, 1, true) then return l end end
end

-- The stream's messages by Nats-Msg-Id; fails on an id stored twice.
local function by_id(msgs)
  local out = {}
  for _, m in ipairs(msgs) do
    local id = m.headers["Nats-Msg-Id"]
    assert.is_nil(out[id], "stored twice: " .. tostring(id))
    out[id] = m
  end
  return out
end

describe("nats jetstream, one server", function()
  local srv, cl, gl, n = nil, nil, nil, 0
  local function stream()
    n = n + 1
    local name = "GL" .. n
    cl:create_stream(name, { "gl" .. n .. ".>" })
    return name, "gl" .. n
  end

  setup(function()
    srv = N.server()
    cl = assert(N.client(srv.port))
  end)
  teardown(function()
    cl:close()
    srv:stop()
    os.execute("rm -rf " .. srv.dir)
  end)
  after_each(function()
    if gl then gl:close(2) end
    gl = nil
  end)

  it("publishes each record once, on its subject, with its Nats-Msg-Id", function()
    local name, prefix = stream()
    gl = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".{protocol}.{resourceId}" },
      { instance_id = "edge-1" })
    local sids = sessions(gl, 120)
    local u = gl:udp_track(7, "[2001:db8::1]:5000", "10.0.0.1:53")
    gl:udp_end(u)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 121 end, 20))
    local st = gl:stats()
    assert.equal(121, st.nats_published)
    assert.equal(121, st.nats_acked)
    assert.equal(0, st.nats_duplicates)
    assert.equal(0, st.nats_errors)
    local got = by_id(cl:messages(name))
    for i, sid in ipairs(sids) do
      local m = assert(got["edge-1-" .. sid], "missing " .. sid)
      assert.equal(prefix .. ".tcp." .. i, m.subject)
      local r = cjson.decode(m.data)
      assert.equal(sid, r.sessionId)
      assert.equal(i, r.bytesTx)
      assert.equal("closed", r.endReason)
      assert.is_nil(m.data:find("\n", 1, true))
    end
    local m = assert(got["edge-1-" .. u])
    assert.equal(prefix .. ".udp.7", m.subject)
    assert.equal("[2001:db8::1]:5000", cjson.decode(m.data).sourceAddr)
    assert.equal(121, cl:stream_info(name).state.messages)
  end)

  it("sends at the script's flush interval (GATELOG_FLUSH_INTERVAL), without a flush", function()
    local name, prefix = stream()
    servers.setenv("GATELOG_FLUSH_INTERVAL", "0.1")
    gl = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".f" })
    servers.unsetenv("GATELOG_FLUSH_INTERVAL")
    sessions(gl, 3)
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 3 end, 20))
    assert.equal(3, cl:stream_info(name).state.messages)
  end)

  it("gives interim records ids with their seq", function()
    local name, prefix = stream()
    gl = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".x" },
      { instance_id = "edge-2", active_timeout = 0.1 })
    local sid = gl:tcp_start(1, "203.0.113.9:1000", "10.0.0.5:443")
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_kept >= 2 end, 10))
    gl:tcp_end(sid)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function()
      local st = gl:stats()
      return st.records_sent == st.records_kept
    end, 20))
    local got = by_id(cl:messages(name))
    local count = gl:stats().records_kept
    for seq = 1, count do
      local m = assert(got["edge-2-" .. sid .. "-" .. seq], "missing seq " .. seq)
      assert.equal(seq, cjson.decode(m.data).seq)
    end
  end)

  it("per batch: one message whose id is the batch's, its body the batch's ndjson", function()
    local name, prefix = stream()
    gl = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".batch", GATELOG_NATS_PER = "batch" },
      { instance_id = "edge-3" })
    sessions(gl, 30)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 30 end, 20))
    local msgs = cl:messages(name)
    assert.equal(1, #msgs)
    assert.matches("^edge%-3%-%x+$", msgs[1].headers["Nats-Msg-Id"])
    local lines = 0
    for line in msgs[1].data:gmatch("[^\n]+") do
      lines = lines + 1
      assert.is_table(cjson.decode(line))
    end
    assert.equal(30, lines)
  end)

  it("keeps ids across a restart from the spool: what was stored before is not stored again", function()
    local name, prefix = stream()
    local dir = servers.tmpdir()
    local relay = N.relay(srv.port)
    relay.swallow = true
    gl = new({ GATELOG_NATS_URL = relay.url, GATELOG_NATS_SUBJECT = prefix .. ".s", GATELOG_NATS_ACK_TIMEOUT = "0.3" },
      { instance_id = "edge-4", spool_dir = dir })
    local sids = sessions(gl, 40)
    gl:flush()
    assert.is_true(servers.run_until(gl, { relay }, function() return relay.swallowed >= 40 end, 20))
    -- Stored, never acknowledged: the close leaves the batch in the spool.
    assert.equal(1, gl:close(0).spooled_on_close)
    gl = nil
    relay:close()
    assert.equal(40, cl:stream_info(name).state.messages)
    -- The next start sends it first, under the ids it was made with.
    gl = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".s" },
      { instance_id = "edge-5", spool_dir = dir })
    local more = sessions(gl, 10, 100)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 50 end, 20))
    local st = gl:stats()
    assert.equal(40, st.records_recovered)
    assert.equal(40, st.nats_duplicates)
    local got = by_id(cl:messages(name))
    for _, sid in ipairs(sids) do assert.is_table(got["edge-4-" .. sid]) end
    for _, sid in ipairs(more) do assert.is_table(got["edge-5-" .. sid]) end
    assert.equal(50, cl:stream_info(name).state.messages)
    os.execute("rm -rf " .. dir)
  end)

  it("sends again what was stored but not acknowledged: the stream stores it once, the stat counts duplicates", function()
    local name, prefix = stream()
    local relay = N.relay(srv.port)
    relay.swallow = true
    gl = new({ GATELOG_NATS_URL = relay.url, GATELOG_NATS_SUBJECT = prefix .. ".r", GATELOG_NATS_ACK_TIMEOUT = "0.3" },
      { instance_id = "edge-6" })
    local sids = sessions(gl, 25)
    gl:flush()
    assert.is_true(servers.run_until(gl, { relay }, function()
      return relay.swallowed >= 25 and gl:stats().nats_errors > 0
    end, 20))
    assert.equal(0, gl:stats().records_sent)
    assert.equal(25, cl:stream_info(name).state.messages) -- stored, never acknowledged
    relay.swallow = false
    assert.is_true(servers.run_until(gl, { relay }, function() return gl:stats().records_sent == 25 end, 20))
    local st = gl:stats()
    assert.is_true(st.batches_retried >= 1)
    assert.equal(25, st.nats_duplicates)
    local got = by_id(cl:messages(name))
    for _, sid in ipairs(sids) do assert.is_table(got["edge-6-" .. sid]) end
    assert.equal(25, cl:stream_info(name).state.messages)
    gl:close(2)
    gl = nil
    relay:close()
  end)

  it("retries a subject no stream takes, says so, and delivers once the stream exists", function()
    n = n + 1
    local name, prefix = "GL" .. n, "gl" .. n
    local logs
    gl, logs = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = prefix .. ".late" })
    sessions(gl, 10)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().nats_errors >= 2 end, 20))
    assert.equal(0, gl:stats().records_sent)
    assert.equal(0, gl:stats().batches_rejected)
    assert.is_truthy(logged(logs, "no stream takes subject " .. prefix .. ".late (no responders)"))
    cl:create_stream(name, { prefix .. ".>" })
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 10 end, 20))
    assert.equal(10, cl:stream_info(name).state.messages)
  end)

  it("waits for a server that is not there yet, saying why", function()
    local port = servers.free_port()
    local logs
    gl, logs = new({ GATELOG_NATS_URL = "nats://127.0.0.1:" .. port, GATELOG_NATS_SUBJECT = "glwait.x" })
    sessions(gl, 5)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().nats_errors >= 2 end, 20))
    assert.equal(0, gl:stats().records_sent)
    assert.is_truthy(logged(logs, "nats: connect to nats://127.0.0.1:" .. port .. ": "))
    local late = N.node{ port = port, name = "late" }
    assert.is_true(late:start())
    local c2 = assert(N.client(port))
    c2:create_stream("WAIT", { "glwait.>" })
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 5 end, 20))
    assert.equal(5, c2:stream_info("WAIT").state.messages)
    c2:close()
    gl:close(2)
    gl = nil
    late:stop()
  end)

  it("says which setting nats.c refused (a CA file that is not there), and retries", function()
    local logs
    gl, logs = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = "glca.x", GATELOG_NATS_CA = "/nonexistent/ca.pem" })
    sessions(gl, 2)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 2 end, 20))
    assert.equal(0, gl:stats().records_sent)
    assert.is_truthy(logged(logs, "nats: settings for " .. srv.url .. ": "))
    assert.is_truthy(logged(logs, "/nonexistent/ca.pem"))
  end)

  it("drops for good only a message larger than the server's max_payload", function()
    local big = N.server(nil, "max_payload: 2000")
    local c2 = assert(N.client(big.port))
    c2:create_stream("BIG", { "glbig.>" })
    local logs
    gl, logs = new({ GATELOG_NATS_URL = big.url, GATELOG_NATS_SUBJECT = "glbig.x", GATELOG_NATS_PER = "batch" })
    sessions(gl, 40) -- about 250 bytes each: one batch of 10 kB
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().batches_rejected == 1 end, 20))
    assert.is_truthy(logged(logs, "larger than the server's max_payload"))
    sessions(gl, 2)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 2 end, 20))
    c2:close()
    gl:close(2)
    gl = nil
    big:stop()
  end)
end)

describe("nats jetstream, credentials", function()
  it("counts and says a refused login, and delivers once the script has the right password", function()
    local srv = N.server("--user gl --pass right")
    local cl = assert(N.client(srv.port, "gl", "right"))
    cl:create_stream("AUTH", { "glauth.>" })
    local gl, logs = new({ GATELOG_NATS_URL = srv.url, GATELOG_NATS_SUBJECT = "glauth.x",
      GATELOG_NATS_USER = "gl", GATELOG_NATS_PASSWORD = "wrong" })
    sessions(gl, 5)
    gl:flush()
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().nats_errors >= 2 end, 20))
    assert.equal(0, gl:stats().records_sent)
    assert.is_truthy(logged(logs, "uthorization"))
    servers.setenv("GATELOG_NATS_PASSWORD", "right")
    assert.is_true(gl:reload())
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == 5 end, 20))
    assert.equal(5, cl:stream_info("AUTH").state.messages)
    gl:close(2)
    cl:close()
    srv:stop()
    os.execute("rm -rf " .. srv.dir)
  end)
end)
