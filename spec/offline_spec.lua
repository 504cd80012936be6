-- Hooks for tools that replay recorded traffic or try a policy offline: a
-- clock of the host's, gatelog_expire, and a send override.
local gatelog = require "gatelog"
local S = require "support"

describe("a host clock", function()
  it("times sessions and idle expiry by the host's clock, not the system's", function()
    local now = 1795773600.5 -- 2026-11-27T10:00:00.5Z
    local gl, cap = S.new({ clock = function() return now end, udp_idle_timeout = 30,
                            script = S.fixture("capture_reason.lua") })
    local tcp = gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    local udp = gl:udp_track(1, "10.0.0.1:5", "10.0.0.2:53")
    now = now + 10
    gl:add_bytes(udp, 5, 5)
    now = now + 29
    assert.equal(0, gl:expire()) -- 29 s idle: not yet
    gl:tcp_end(tcp)
    now = now + 2
    assert.equal(1, gl:expire())
    assert.equal(0, gl:expire())
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 2 end))
    local t, u = cap.records[1], cap.records[2]
    assert.equal("2026-11-27T10:00:00.5Z", t.startedAt)
    assert.equal("2026-11-27T10:00:39.5Z", t.endedAt)
    assert.equal("closed", t.reason)
    assert.equal(udp, u.sessionId)
    assert.equal("idle", u.reason)
    assert.equal("2026-11-27T10:00:10.5Z", u.endedAt) -- its last activity
    gl:close(1)
  end)
end)

describe("a send override", function()
  it("takes the batches instead of the script's send; filter and enrich still run", function()
    local got = {}
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[return {
      enrich = function(s) s.site = "x" end,
      send = function() error("the script's send must not run") end,
    }]])
    f:close()
    local gl = assert(gatelog.new({ script = path, access_log = false, batch_max = 2,
      send_override = function(payload, reply) got[#got + 1] = S.decode(payload); reply(#got > 1) end,
      flush_interval = 0.02, log = function() end }))
    for i = 1, 2 do gl:tcp_end(gl:tcp_start(i, "10.0.0.1:1", "10.0.0.2:2")) end
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 1 end, 3))
    assert.equal(2, #got) -- the first answer failed: sent again
    assert.same(got[1], got[2])
    assert.equal("x", got[2][1].site)
    local st = gl:stats()
    assert.equal(0, st.send_errors)
    assert.equal(1, st.batches_failed)
    gl:close(1)
    os.remove(path)
  end)
end)
