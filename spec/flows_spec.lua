-- Sessions as flow exporters know them: interim and start records, end
-- reasons, timeouts per protocol, a bounded table. A host clock makes the
-- timeouts exact.
local S = require "support"

local T0 = 1795773600 -- 2026-11-27T10:00:00Z

local function core(opts)
  local clock = { now = T0 }
  opts.clock = function() return clock.now end
  opts.script = opts.script or S.fixture("records.lua")
  local gl, cap, logs = S.new(opts)
  return gl, cap, clock, logs
end

local function drain(gl, cap, n)
  gl:flush()
  assert(S.run_until(gl, function() return #cap.records >= n end), "records did not arrive")
end

describe("interim records", function()
  it("come every active_timeout: 3.5 intervals give 3 interim and a final, deltas summing up", function()
    local gl, cap, clock = core({ active_timeout = 60 })
    local sid = gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:443")
    local sent = { { 100, 1000 }, { 0, 0 }, { 7, 70 }, { 55, 5 } }
    for i = 1, 3 do
      gl:add_bytes(sid, sent[i][1], sent[i][2])
      clock.now = T0 + 60 * i
      assert.equal(1, gl:expire())
    end
    gl:add_bytes(sid, sent[4][1], sent[4][2])
    clock.now = T0 + 210
    assert.equal(0, gl:expire())
    gl:tcp_end(sid)
    drain(gl, cap, 4)
    local tx, rx = 0, 0
    for i, r in ipairs(cap.records) do
      assert.equal(sid, r.sessionId)
      assert.equal(i, r.seq)
      assert.equal(i == 4, r.final)
      assert.equal(i, r.v_seq)
      tx, rx = tx + r.deltaTx, rx + r.deltaRx
      assert.equal(tx, r.bytesTx)
      assert.equal(rx, r.bytesRx)
    end
    assert.equal(162, tx)
    assert.equal(1075, rx)
    assert.equal("2026-11-27T10:01:00Z", cap.records[1].endedAt)
    assert.equal("2026-11-27T10:03:00Z", cap.records[3].endedAt)
    assert.equal("2026-11-27T10:03:30Z", cap.records[4].endedAt)
    assert.is_nil(cap.records[1].endReason)
    assert.equal("closed", cap.records[4].endReason)
    assert.equal("closed", cap.records[4].v_reason)
    assert.is_nil(cap.records[2].v_reason)
    local st = gl:stats()
    assert.equal(3, st.records_interim)
    assert.equal(1, st.tcp_ended)
    gl:close(1)
  end)

  it("leave the default codec as it was when interim and start records are off", function()
    local gl, cap = core({})
    local sid = gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:443")
    gl:add_bytes(sid, 3, 4)
    gl:tcp_end(sid)
    drain(gl, cap, 1)
    local json = cap.batches[1].json
    assert.equal(('[{"sessionId":"%s","resourceId":1,"sourceAddr":"10.0.0.1:1000","destAddr":"10.0.0.2:443",'
      .. '"protocol":"tcp","startedAt":"2026-11-27T10:00:00Z","endedAt":"2026-11-27T10:00:00Z",'
      .. '"bytesTx":3,"bytesRx":4,"v_final":true,"v_seq":1,"v_reason":"closed","v_deltaTx":3,'
      .. '"v_endedAt":"2026-11-27T10:00:00Z"}]'):format(sid), json)
    -- the codecs' view still has the reason and final
    assert.equal("closed", cap.records[1].endReason)
    assert.equal(true, cap.records[1].final)
    gl:close(1)
  end)
end)

describe("start records", function()
  it("come when a session starts: seq 0, not final, no endedAt", function()
    local gl, cap, clock = core({ log_start = true })
    local sid = gl:udp_track(2, "[2001:db8::1]:5000", "10.0.0.1:53")
    clock.now = T0 + 1.5
    gl:add_bytes(sid, 10, 20)
    gl:udp_end(sid)
    drain(gl, cap, 2)
    local start, final = cap.records[1], cap.records[2]
    assert.equal(0, start.seq)
    assert.equal(false, start.final)
    assert.is_nil(start.endedAt)
    assert.is_nil(start.v_endedAt)
    assert.equal(0, start.bytesTx)
    assert.equal(1, final.seq)
    assert.equal(true, final.final)
    assert.equal(10, final.deltaTx)
    assert.equal("2026-11-27T10:00:01.5Z", final.endedAt)
    assert.matches('"seq":0,', cap.batches[1].json, 1, true)
    assert.equal(1, gl:stats().records_start)
    gl:close(1)
  end)
end)

describe("end reasons and timeouts", function()
  it("name how each session ended, and count them", function()
    local gl, cap, clock = core({ tcp_idle_timeout = 30, max_lifetime = 100, udp_idle_timeout = 20,
                                  max_sessions = 4 })
    local closed = gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    local refused = gl:tcp_start(2, "10.0.0.1:2", "10.0.0.2:2")
    local idle_tcp = gl:tcp_start(3, "10.0.0.1:3", "10.0.0.2:2")
    local old = gl:tcp_start(4, "10.0.0.1:4", "10.0.0.2:2")
    assert(gl:tcp_end(closed))
    assert(gl:tcp_end(refused, "upstream_refused"))
    assert.equal("EINVAL", select(3, gl:tcp_end(old, "")))
    assert.equal("EINVAL", select(3, gl:tcp_end(old, "bad\nreason")))
    assert.equal("EINVAL", select(3, gl:tcp_end(old, ("x"):rep(65))))
    clock.now = T0 + 25
    gl:add_bytes(old, 1, 1)            -- keeps old active: only idle_tcp idles out
    gl:udp_track(5, "10.0.0.1:5", "10.0.0.2:53")
    clock.now = T0 + 31
    assert.equal(1, gl:expire())       -- idle_tcp
    clock.now = T0 + 50
    gl:add_bytes(old, 1, 1)
    assert.equal(1, gl:expire())       -- the UDP flow, idle since T0+25
    clock.now = T0 + 75
    gl:add_bytes(old, 1, 1)
    clock.now = T0 + 100
    assert.equal(1, gl:expire())       -- old, at its max lifetime
    drain(gl, cap, 5)
    local by = {}
    for _, r in ipairs(cap.records) do by[r.resourceId] = r end
    assert.equal("closed", by[1].endReason)
    assert.equal("upstream_refused", by[2].endReason)
    assert.equal("idle", by[3].endReason)
    assert.equal("2026-11-27T10:00:00Z", by[3].endedAt) -- its last activity
    assert.equal("max_lifetime", by[4].endReason)
    assert.equal("idle", by[5].endReason)
    local st = gl:stats()
    assert.equal(1, st.ended_closed)
    assert.equal(2, st.ended_idle)
    assert.equal(1, st.ended_max_lifetime)
    assert.equal(1, st.ended_other)
    gl:close(1)
  end)

  it("evict the least recently active when the table is full, and keep memory bounded", function()
    local gl, cap, clock = core({ max_sessions = 100, batch_max = 100, queue_max = 10000 })
    local flows = {}
    for i = 1, 100 do
      clock.now = T0 + i
      flows[i] = gl:udp_track(1, "10.1.0." .. i .. ":53", "10.0.0.1:53")
    end
    clock.now = T0 + 200
    for i = 1, 10 do gl:udp_track(1, "10.1.0." .. i .. ":53", "10.0.0.1:53") end -- active again
    for i = 1, 1000 do
      clock.now = T0 + 300 + i
      assert(gl:udp_track(2, "10.2." .. math.floor(i / 256) .. "." .. (i % 256) .. ":53", "10.0.0.1:53"))
      assert.is_true(gl:stats().udp_open <= 100)
    end
    local st = gl:stats()
    assert.equal(1000, st.ended_evicted)
    assert.equal(100, st.udp_open)
    drain(gl, cap, 1000)
    -- The first evicted were the flows that had been quiet longest: 11..100.
    for k = 1, 90 do
      assert.equal(flows[10 + k], cap.records[k].sessionId)
      assert.equal("evicted", cap.records[k].endReason)
    end
    assert.equal(flows[1], cap.records[91].sessionId)
    gl:close(1)
  end)

  it("refuse new sessions when the table is full and table_full is refuse", function()
    local gl = core({ max_sessions = 3, table_full = "refuse" })
    for i = 1, 3 do assert(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:2")) end
    local ok, err, name = gl:tcp_start(1, "10.0.0.1:9", "10.0.0.2:2")
    assert.is_nil(ok)
    assert.equal("EFULL", name)
    assert.matches("max_sessions", err)
    assert.equal("EFULL", select(3, gl:udp_track(1, "10.0.0.1:9", "10.0.0.2:2")))
    local st = gl:stats()
    assert.equal(2, st.sessions_refused)
    assert.equal(3, st.tcp_open)
    gl:close(1)
  end)

  it("apply a new max_sessions on reload, and refuse turning interim records on live", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local path = dir .. "/p.lua"
    local function write(config)
      local f = assert(io.open(path, "w"))
      f:write('local p = require "records"\np.config = ' .. config .. '\nreturn p\n')
      f:close()
    end
    write("{ max_sessions = 10 }")
    local gl, cap = core({ script = path })
    for i = 1, 10 do gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:2") end
    write("{ max_sessions = 4 }")
    assert.is_true(gl:reload())
    assert.equal(6, gl:stats().ended_evicted)
    assert.equal(4, gl:stats().tcp_open)
    write("{ max_sessions = 4, active_timeout = 60 }")
    local ok, err, name = gl:reload()
    assert.is_nil(ok)
    assert.equal("ECONFIG", name)
    assert.matches("config.active_timeout: turning it on or off cannot be applied live", err, 1, true)
    gl:close(1)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("the expiry timer", function()
  it("runs the timeouts by itself, without gatelog_expire", function()
    local gl, cap = S.new({ script = S.fixture("records.lua"), tcp_idle_timeout = 0.05,
                            active_timeout = 0.03, flush_interval = 0.02 })
    local sid = gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    assert.truthy(S.run_until(gl, function()
      return #cap.records > 0 and cap.records[#cap.records].final == true
    end, 3))
    local last = cap.records[#cap.records]
    assert.equal(sid, last.sessionId)
    assert.equal("idle", last.endReason)
    assert.is_true(#cap.records >= 2) -- an interim record came first
    gl:close(1)
  end)
end)

describe("on_end", function()
  it("tells the host about every session that ends, and why", function()
    local ended = {}
    local gl, cap, clock = core({ udp_idle_timeout = 10, max_sessions = 3,
                                  on_end = function(info) ended[#ended + 1] = info end })
    local a = gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    local u = gl:udp_track(2, "[2001:db8::1]:53", "10.0.0.9:53")
    gl:tcp_end(a, "upstream_reset")
    clock.now = T0 + 11
    assert.equal(1, gl:expire())
    for i = 1, 4 do gl:tcp_start(3, "10.0.0.3:" .. i, "10.0.0.2:2") end -- the fourth evicts
    gl:close(1)
    assert.equal(6, #ended)
    assert.same({ sessionId = a, resourceId = 1, protocol = "tcp", sourceAddr = "10.0.0.1:1",
                  destAddr = "10.0.0.2:2", endReason = "upstream_reset" }, ended[1])
    assert.equal(u, ended[2].sessionId)
    assert.equal("udp", ended[2].protocol)
    assert.equal("[2001:db8::1]:53", ended[2].sourceAddr)
    assert.equal("idle", ended[2].endReason)
    assert.equal("evicted", ended[3].endReason)
    assert.equal("shutdown", ended[6].endReason)
    assert.equal(6, #cap.records)
  end)
end)
