-- Closing: every open session ends with endReason "shutdown", in batches
-- of at most batch_max, sends are awaited up to the drain deadline, and
-- what could not be delivered is counted.
local S = require "support"

describe("close", function()
  it("delivers 10,000 open sessions in batches of at most batch_max", function()
    local gl, cap = S.new({ script = S.fixture("capture_reason.lua") })
    local open = {}
    for i = 1, 10000 do
      local sid
      if i % 4 == 0 then
        sid = gl:udp_track(i % 7, "10.3." .. math.floor(i / 256) .. "." .. (i % 256) .. ":53", "10.0.0.1:53")
      else
        sid = gl:tcp_start(i % 7, "10.4." .. math.floor(i / 256) .. "." .. (i % 256) .. ":443", "10.0.0.5:443")
      end
      open[sid] = true
    end
    local st, loop_closed = gl:close(10)
    assert.is_true(loop_closed)
    assert.equal(10000, #cap.records)
    assert.equal(10000, st.ended_shutdown)
    assert.equal(0, st.lost_on_close)
    assert.equal(0, st.records_dropped)
    assert.equal(10000, st.records_sent)
    assert.equal(100, #cap.batches)
    local ended = cap.records[1].endedAt
    for _, b in ipairs(cap.batches) do assert.is_true(b.count <= 100) end
    for _, r in ipairs(cap.records) do
      assert.is_true(open[r.sessionId])
      open[r.sessionId] = nil
      assert.equal("shutdown", r.reason)
      assert.equal(ended, r.endedAt) -- all end at the moment of close
    end
    assert.is_nil(next(open))
  end)

  it("never holds more than queue_max records while it drains", function()
    local gl, cap = S.new({ batch_max = 10, queue_max = 30 })
    cap.mode = "hold"
    for i = 1, 500 do gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80") end
    local st = gl:close(0.5)
    -- Nothing was answered: the drain stopped at queue_max records instead
    -- of ending every session into memory, and dropped nothing for room.
    local held = 0
    for _, h in ipairs(cap.held) do held = held + h.batch.count end
    assert.equal(30, held)
    assert.equal(3, st.batches_sealed)
    assert.equal(0, st.records_dropped)
    assert.equal(500, st.lost_on_close)
  end)

  it("drains a large table through a small queue", function()
    local gl, cap = S.new({ batch_max = 10, queue_max = 30 })
    local ids = {}
    for i = 1, 2000 do ids[i] = gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80") end
    local st = gl:close(5)
    assert.equal(2000, #cap.records)
    assert.equal(0, st.lost_on_close)
    assert.equal(0, st.records_dropped)
    local got = {}
    for _, r in ipairs(cap.records) do got[r.sessionId] = (got[r.sessionId] or 0) + 1 end
    for _, id in ipairs(ids) do assert.equal(1, got[id]) end
  end)

  it("counts what the deadline cuts off and logs it", function()
    local gl, cap, logs = S.new({ batch_max = 10 })
    cap.mode = "fail"
    for i = 1, 25 do gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80") end
    gl:tcp_end(gl:tcp_start(1, "10.0.0.1:9999", "10.0.0.2:80"))
    local st = gl:close(0.3)
    assert.equal(26, st.lost_on_close)
    assert.equal(0, #cap.records)
    assert.is_true(st.batches_failed >= 1)
    local said = false
    for _, l in ipairs(logs) do said = said or (l.level == "error" and l.msg:find("26 records not delivered", 1, true) ~= nil) end
    assert.is_true(said)
  end)

  it("ignores answers that come after close, and closes the loop cleanly", function()
    local gl, cap = S.new({ batch_max = 5 })
    cap.mode = "hold"
    for i = 1, 10 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return #cap.held == 2 end, 5))
    local st, loop_closed = gl:close(0.1)
    assert.is_true(loop_closed)
    assert.equal(10, st.lost_on_close)
    cap.release(true) -- the core is gone: the answers only free the sends
    cap.release(false)
    collectgarbage()
    local ok, err, name = gl:close(1)
    assert.is_nil(ok)
    assert.equal("ECLOSED", name)
    assert.matches("ECLOSED", err)
    assert.has_error(function() gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2") end, "gatelog instance is closed")
  end)

  it("ends UDP flows and TCP sessions alike and leaves no session open", function()
    local gl, cap = S.new({ script = S.fixture("capture_reason.lua") })
    gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")
    gl:udp_track(1, "10.0.0.1:1", "10.0.0.2:2")
    local st = gl:close(2)
    assert.equal(2, st.ended_shutdown)
    assert.equal(0, st.tcp_open)
    assert.equal(0, st.udp_open)
    assert.equal(1, st.tcp_ended)
    assert.equal(1, st.udp_ended)
    assert.equal(2, #cap.records)
  end)
end)
