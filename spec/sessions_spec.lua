-- Session tables: ids, UDP flow dedup, bytes, idle expiry, errors.
local gatelog = require "gatelog"
local S = require "support"

describe("sessions", function()
  local gl, cap
  before_each(function()
    gl, cap = S.new({ flush_interval = 0.02 })
  end)
  after_each(function()
    if gl then gl:close(1) end
  end)

  it("gives each TCP session a fresh 16-hex-digit id, never 0", function()
    local seen = {}
    for i = 1, 2000 do
      local sid = assert(gl:tcp_start(1, "10.1.0.1:" .. (1000 + i), "10.0.0.5:443"))
      assert.matches("^%x+$", sid)
      assert.equal(16, #sid)
      assert.equal(sid:lower(), sid)
      assert.are_not.equal("0000000000000000", sid)
      assert.is_nil(seen[sid])
      seen[sid] = true
    end
    assert.equal(2000, gl:stats().tcp_open)
  end)

  it("turns 1000 packets of one UDP flow into one session", function()
    local first = assert(gl:udp_track(7, "[2001:db8::1]:5000", "10.0.0.1:53"))
    for _ = 1, 999 do
      assert.equal(first, gl:udp_track(7, "[2001:db8::1]:5000", "10.0.0.1:53"))
      assert(gl:add_bytes(first, 60, 120))
    end
    local st = gl:stats()
    assert.equal(1, st.udp_started)
    assert.equal(1, st.udp_open)
    assert(gl:udp_end(first))
    assert.truthy(S.run_until(gl, function() return #cap.records == 1 end))
    local r = cap.records[1]
    assert.equal(first, r.sessionId)
    assert.equal(999 * 60, r.bytesTx)
    assert.equal(999 * 120, r.bytesRx)
    assert.equal("udp", r.protocol)
    assert.equal("[2001:db8::1]:5000", r.sourceAddr)
  end)

  it("keeps flows apart by resource, source and destination", function()
    local a = gl:udp_track(1, "10.0.0.9:5000", "10.0.0.1:53")
    local b = gl:udp_track(2, "10.0.0.9:5000", "10.0.0.1:53")
    local c = gl:udp_track(1, "10.0.0.9:5001", "10.0.0.1:53")
    local d = gl:udp_track(1, "10.0.0.9:5000", "10.0.0.2:53")
    local e = gl:udp_track(1, "[::ffff:10.0.0.9]:5000", "10.0.0.1:53")
    local ids = { a, b, c, d, e }
    for i = 1, #ids do
      for j = i + 1, #ids do assert.are_not.equal(ids[i], ids[j]) end
    end
    assert.equal(a, gl:udp_track(1, "10.0.0.9:5000", "10.0.0.1:53"))
    assert.equal(5, gl:stats().udp_open)
  end)

  it("starts a new session for a flow after its previous one ended", function()
    local a = gl:udp_track(1, "10.0.0.9:5000", "10.0.0.1:53")
    assert(gl:udp_end(a))
    local b = gl:udp_track(1, "10.0.0.9:5000", "10.0.0.1:53")
    assert.are_not.equal(a, b)
  end)

  it("counts bytes in both directions", function()
    local sid = gl:tcp_start(42, "203.0.113.7:51234", "10.0.0.5:443")
    assert(gl:add_bytes(sid, 100, 200))
    assert(gl:add_bytes(sid, 1, 2))
    assert(gl:add_bytes(sid, 0, 0))
    assert(gl:tcp_end(sid))
    assert.truthy(S.run_until(gl, function() return #cap.records == 1 end))
    assert.equal(101, cap.records[1].bytesTx)
    assert.equal(202, cap.records[1].bytesRx)
  end)

  it("refuses unknown, malformed and already ended ids and changes nothing", function()
    local sid = gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    local before = gl:stats()
    local ok, err, name = gl:tcp_end("0123456789abcdef")
    assert.is_nil(ok)
    assert.equal("ENOSESSION", name)
    assert.matches("^ENOSESSION: ", err)
    assert.equal("ENOSESSION", select(3, gl:udp_end("0123456789abcdef")))
    assert.equal("ENOSESSION", select(3, gl:add_bytes("0123456789abcdef", 1, 1)))
    assert.equal("EINVAL", select(3, gl:tcp_end("xyz")))
    assert.equal("EINVAL", select(3, gl:tcp_end("0123456789abcdeg")))
    assert.same(before, gl:stats())

    assert.equal("EWRONGPROTO", select(3, gl:udp_end(sid)))
    assert(gl:tcp_end(sid))
    assert.equal("ENOSESSION", select(3, gl:tcp_end(sid)))
    assert.equal("ENOSESSION", select(3, gl:add_bytes(sid, 1, 1)))
    local st = gl:stats()
    assert.equal(1, st.tcp_ended)
    assert.equal(0, st.tcp_open)
  end)

  it("accepts IPv4 and IPv6, prints IPv6 bracketed, and refuses what does not parse", function()
    local v6 = assert(gl:tcp_start(5, "[2001:db8::1]:5000", "[2001:db8:0:0::22]:22"))
    assert(gl:tcp_end(v6))
    for _, bad in ipairs({ "10.0.0.1", "10.0.0.1:", "10.0.0.1:70000", "2001:db8::1:80",
                           "[2001:db8::1]", "300.0.0.1:80", "host.example:80", "" }) do
      local ok, err, name = gl:tcp_start(5, bad, "10.0.0.5:443")
      assert.is_nil(ok)
      assert.equal("EINVAL", name)
      assert.matches("address", err)
      assert.equal("EINVAL", select(3, gl:udp_track(5, "10.0.0.5:443", bad)))
    end
    local st = gl:stats()
    assert.equal(1, st.tcp_started)
    assert.equal(0, st.udp_started)
    assert.truthy(S.run_until(gl, function() return #cap.records == 1 end))
    assert.equal("[2001:db8::1]:5000", cap.records[1].sourceAddr)
    assert.equal("[2001:db8::22]:22", cap.records[1].destAddr)
  end)

  it("raises on misuse of the Lua API", function()
    assert.has_error(function() gl:tcp_start("x", "10.0.0.1:1", "10.0.0.2:2") end)
    assert.has_error(function() gl:tcp_end(42) end)
    assert.has_error(function() gl:add_bytes("0123456789abcdef", -1, 0) end)
    assert.has_error(function() gatelog.new({ script = S.fixture("capture.lua"), bogus = 1 }) end)
    assert.has_error(function() gatelog.new({}) end)
  end)
end)

describe("UDP idle expiry", function()
  it("ends an idle flow with endReason idle and endedAt = its last activity", function()
    -- Margins are wide (a 0.6 s timeout, 0.1 s steps) because a loaded
    -- machine can stall a step; flows_spec checks the exact times with a host clock.
    local gl, cap = S.new({ flush_interval = 0.01, udp_idle_timeout = 0.6,
                            script = S.fixture("capture_reason.lua") })
    local sid = gl:udp_track(3, "10.0.0.7:4000", "10.0.0.1:53")
    local busy = gl:udp_track(3, "10.0.0.8:4000", "10.0.0.1:53")
    -- Keep one flow active past the timeout of the other.
    local last
    for i = 1, 10 do
      gl:run(0.1)
      assert.equal(busy, gl:udp_track(3, "10.0.0.8:4000", "10.0.0.1:53"))
      if i == 2 then
        last = gatelog.now()
        assert(gl:add_bytes(sid, 10, 20))
      end
    end
    assert.truthy(S.run_until(gl, function()
      assert.equal(busy, gl:udp_track(3, "10.0.0.8:4000", "10.0.0.1:53"))
      return #cap.records >= 1
    end, 5))
    local r = cap.records[1]
    assert.equal(sid, r.sessionId)
    assert.equal("idle", r.reason)
    assert.equal(10, r.bytesTx)
    -- endedAt is the last activity, not the moment the expiry noticed it.
    local ended = S.parse_time(r.endedAt)
    assert.is_true(math.abs(ended - last) < 0.05, "endedAt " .. r.endedAt .. " vs " .. last)
    assert.equal(1, gl:stats().ended_idle)
    assert.equal(1, gl:stats().udp_open) -- the busy flow lives on
    gl:close(1)
  end)

  it("expires many flows without touching the ones still active", function()
    local gl, cap = S.new({ flush_interval = 0.01, udp_idle_timeout = 0.5, batch_max = 100,
                            queue_max = 100000 })
    for i = 1, 3000 do gl:udp_track(1, "10.2." .. math.floor(i / 256) .. "." .. (i % 256) .. ":53", "10.0.0.1:53") end
    local live = gl:udp_track(1, "10.9.9.9:53", "10.0.0.1:53")
    local function keep_live()
      assert.equal(live, gl:udp_track(1, "10.9.9.9:53", "10.0.0.1:53"))
    end
    for _ = 1, 8 do
      gl:run(0.1)
      keep_live()
    end
    assert.truthy(S.run_until(gl, function() keep_live() return #cap.records == 3000 end, 10))
    local st = gl:stats()
    assert.equal(3000, st.ended_idle)
    assert.equal(1, st.udp_open)
    for _, r in ipairs(cap.records) do assert.are_not.equal(live, r.sessionId) end
    gl:close(1)
  end)
end)
