-- done(false, err, how): a batch the sink refused for good is dropped and
-- counted; a sink that says when to come back is not tried before then.
local gatelog = require "gatelog"
local S = require "support"

describe("done's third argument", function()
  local gl, cap, logs
  after_each(function() if gl then gl:close(0.2) end gl = nil end)

  -- A core whose sends wait for the spec to answer them.
  local function held()
    gl, cap, logs = S.new({ script = S.fixture("done_how.lua"), flush_interval = 60 })
    cap.mode = "hold"
  end

  it("{ permanent = true } drops the batch, counts it, logs why, never retries", function()
    held()
    assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
    assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1001", "10.0.0.2:80"))))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    cap.held[1].reply(false, "permanent: HTTP 400 bad field")
    cap.held = {}
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_rejected == 1 end))
    gl:run(1.3) -- past the first backoff step: nothing comes again
    local st = gl:stats()
    assert.equal(1, cap.calls)
    assert.equal(2, st.records_rejected)
    assert.equal(1, st.batches_failed)
    assert.equal(0, st.records_queued)
    assert.equal(0, st.batches_retried)
    local said = false
    for _, l in ipairs(logs) do said = said or (l.level == "error" and l.msg:find("HTTP 400 bad field", 1, true) ~= nil) end
    assert.is_true(said)
  end)

  it("{ retry_after = s } holds the retry back at least that long", function()
    held()
    assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    local t0 = gatelog.now()
    cap.held[1].reply(false, "retry_after=2.5: busy")
    cap.held = {}
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end, 10))
    -- The default backoff would have come back after 1 s. (The loop's
    -- clock counts whole milliseconds: allow one.)
    assert.is_true(gatelog.now() - t0 >= 2.5 - 0.002)
    cap.release(true)
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 1 end))
    assert.equal(1, gl:stats().batches_retried)
  end)

  it("a bad third argument raises in the script", function()
    held()
    assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    cap.held[1].reply(false, "bad how")
    cap.held = {}
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed == 1 end))
    local said = false
    for _, l in ipairs(logs) do said = said or l.msg:find("raised: true", 1, true) ~= nil and l.msg:find("retry_after must be", 1, true) ~= nil end
    assert.is_true(said)
  end)
end)
