-- Batches from sealing to acknowledgement: when they are sealed, the
-- order they are sent in, failures and retries, and the queue cap.
local S = require "support"

local function end_sessions(gl, n, resource)
  local ids = {}
  for i = 1, n do
    local sid = gl:tcp_start(resource or 1, "10.0.0.1:" .. (1000 + i), "10.0.0.2:80")
    assert(gl:tcp_end(sid))
    ids[#ids + 1] = sid
  end
  return ids
end

describe("delivery", function()
  local gl, cap, logs
  after_each(function() if gl then gl:close(1) end end)

  it("seals a batch at batch_max and the rest at the flush interval", function()
    gl, cap = S.new({ batch_max = 10, flush_interval = 1 })
    end_sessions(gl, 25)
    assert.truthy(S.run_until(gl, function() return #cap.batches == 2 end, 0.8))
    assert.equal(10, cap.batches[1].count)
    assert.equal(10, cap.batches[2].count)
    assert.equal(2, gl:stats().batches_sealed)
    assert.truthy(S.run_until(gl, function() return #cap.batches == 3 end, 3))
    assert.equal(5, cap.batches[3].count)
    gl:run(1.1) -- an empty interval seals nothing
    assert.equal(3, gl:stats().batches_sealed)
  end)

  it("seals what waits on flush", function()
    gl, cap = S.new({ flush_interval = 60 })
    end_sessions(gl, 3)
    gl:run(0.05)
    assert.equal(0, #cap.batches)
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end))
    assert.equal(3, cap.batches[1].count)
    assert(gl:flush()) -- nothing waits: no empty batch
    gl:run(0.05)
    assert.equal(1, gl:stats().batches_sealed)
  end)

  it("sends batches in the order they were sealed", function()
    gl, cap = S.new({ batch_max = 7, flush_interval = 60, queue_max = 10000 })
    local ids = end_sessions(gl, 700)
    assert.truthy(S.run_until(gl, function() return #cap.records == 700 end))
    assert.same(ids, S.ids(cap.records))
    assert.equal(100, #cap.batches)
  end)

  it("keeps at most max_inflight batches at the sender at once", function()
    gl, cap = S.new({ batch_max = 5, max_inflight = 3, queue_max = 1000 })
    cap.mode = "hold"
    end_sessions(gl, 50)
    gl:run(0.1)
    assert.equal(3, #cap.held)
    assert.equal(3, gl:stats().batches_inflight)
    cap.mode = "ok"
    cap.release(true)
    -- batches_sent counts when the answer is settled, a pump after the
    -- sender saw the records: wait for that, not only for the records.
    assert.truthy(S.run_until(gl, function() return #cap.records == 50 and gl:stats().batches_sent == 10 end))
    assert.equal(10, gl:stats().batches_sent)
  end)

  it("retries a failing sink, oldest first, and delivers every record once", function()
    gl, cap, logs = S.new({ batch_max = 10, flush_interval = 0.05, queue_max = 1000, retry_max = 0.05 })
    cap.mode = "fail"
    local ids = end_sessions(gl, 30)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_retried >= 3 end, 3))
    assert.equal(0, #cap.records)
    local st = gl:stats()
    -- While the sink is down only the oldest batch is tried, at the backoff pace.
    assert.is_true(st.batches_failed >= st.batches_retried)
    assert.equal(30, st.records_queued)
    cap.mode = "ok"
    local more = end_sessions(gl, 10)
    assert.truthy(S.run_until(gl, function() return #cap.records == 40 end, 3))
    gl:run(0.2)
    local all = {}
    for _, id in ipairs(ids) do all[#all + 1] = id end
    for _, id in ipairs(more) do all[#all + 1] = id end
    assert.same(all, S.ids(cap.records)) -- once each, in order
    -- A retried batch keeps its id and counts its attempts.
    assert.is_true(cap.batches[1].attempt > 1)
    local seen = {}
    for _, b in ipairs(cap.batches) do
      assert.is_nil(seen[b.id])
      seen[b.id] = true
    end
    st = gl:stats()
    assert.equal(40, st.records_sent)
    assert.equal(0, st.records_queued)
    assert.equal(0, st.records_dropped)
    local warned = false
    for _, l in ipairs(logs) do warned = warned or (l.level == "warn" and l.msg:find("collector down", 1, true) ~= nil) end
    assert.is_true(warned)
  end)

  it("keeps the batch id across retries", function()
    gl, cap = S.new({ batch_max = 5, flush_interval = 0.03, retry_max = 0.03 })
    cap.mode = "hold"
    end_sessions(gl, 5)
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    local first = cap.held[1].batch
    cap.release(false)
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end, 2))
    local second = cap.held[1].batch
    assert.equal(first.id, second.id)
    assert.equal(1, first.attempt)
    assert.equal(2, second.attempt)
    assert.equal(first.payload, second.payload)
    cap.release(true)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 1 end))
  end)

  it("caps the records waiting again after a failed send at queue_max, oldest first, and says so", function()
    gl, cap, logs = S.new({ batch_max = 10, queue_max = 30, max_inflight = 6, flush_interval = 60, retry_max = 60 })
    cap.mode = "hold"
    local ids = end_sessions(gl, 60)
    assert.truthy(S.run_until(gl, function() return #cap.held == 6 end))
    cap.release(false) -- six batches fail together: 60 records wait again
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed == 6 end))
    local st = gl:stats()
    assert.equal(30, st.records_dropped)
    assert.equal(3, st.batches_dropped)
    assert.equal(30, st.records_retrying)
    assert.equal(30, st.records_queued)
    local line
    for _, l in ipairs(logs) do line = line or (l.level == "warn" and l.msg:match(".*dropped the %d+ oldest records.*")) end
    assert.truthy(line)
    assert.matches("queue_max_records=30", line, 1, true)
    cap.mode = "ok"
    gl:flush()
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 30 end, 3))
    local newest = {}
    for i = 31, 60 do newest[#newest + 1] = ids[i] end
    assert.same(newest, S.ids(cap.records))
    assert.equal(0, gl:stats().records_retrying)
  end)

  it("never drops a batch for queue_max before the sink was offered it", function()
    gl, cap = S.new({ batch_max = 10, queue_max = 10, max_inflight = 1, flush_interval = 60, retry_max = 60 })
    cap.mode = "fail"
    local ids = end_sessions(gl, 1000)
    assert.truthy(S.run_until(gl, function()
      local st = gl:stats()
      return st.batches_failed == 1 and st.bytes_compressed > 0 and st.batches_queued == 100
    end))
    gl:run(0.05)
    local st = gl:stats()
    assert.equal(0, st.records_dropped)
    assert.equal(10, st.records_retrying) -- the one batch the sink was offered
    assert.equal(1000, st.records_queued)
    assert.is_true(st.bytes_queued > st.bytes_json)
    cap.mode = "ok"
    gl:flush()
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 1000 end, 10))
    assert.same(ids, S.ids(cap.records))
    assert.equal(0, gl:stats().bytes_queued)
  end)

  it("probes a failing sink with one send at a time, then sends max_inflight again", function()
    gl, cap = S.new({ batch_max = 5, max_inflight = 4, flush_interval = 60, retry_max = 60 })
    cap.mode = "hold"
    end_sessions(gl, 40)
    assert.truthy(S.run_until(gl, function() return #cap.held == 4 end))
    cap.release(false)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed == 4 end))
    assert.is_true(gl:stats().retry_wait_ms > 0)
    gl:flush() -- retry now
    gl:run(0.05)
    assert.equal(1, #cap.held)
    assert.equal(1, gl:stats().batches_inflight)
    cap.release(true)
    assert.truthy(S.run_until(gl, function() return #cap.held == 4 end))
    assert.equal(0, gl:stats().retry_wait_ms)
    cap.mode = "ok"
    cap.release(true)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 8 end))
  end)

  it("ignores a second done", function()
    gl, cap = S.new({ script = S.fixture("done_twice.lua"), batch_max = 5 })
    end_sessions(gl, 20)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 4 end))
    gl:run(0.05)
    local st = gl:stats()
    assert.equal(4, st.done_ignored)
    assert.equal(0, st.batches_failed)
    assert.equal(20, #cap.records)
  end)

  it("retries a batch whose send raised", function()
    gl, cap, logs = S.new({ script = S.fixture("send_raises.lua"), batch_max = 5, flush_interval = 0.02, retry_max = 0.02 })
    local ids = end_sessions(gl, 10)
    assert.truthy(S.run_until(gl, function() return #cap.records == 10 end, 3))
    assert.same(ids, S.ids(cap.records))
    local st = gl:stats()
    assert.equal(2, st.send_errors)
    assert.equal(2, st.batches_failed)
    local named = false
    for _, l in ipairs(logs) do named = named or l.msg:find("send_raises%.lua:%d+: transport exploded") ~= nil end
    assert.is_true(named)
  end)

  it("turns a dropped, unanswered reply into a failure and retries", function()
    gl, cap = S.new({ batch_max = 5, flush_interval = 0.02, retry_max = 0.02 })
    cap.mode = "hold"
    end_sessions(gl, 5)
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    cap.held = {}
    collectgarbage()
    collectgarbage()
    cap.mode = "ok"
    assert.truthy(S.run_until(gl, function() return #cap.records == 5 end, 3))
    assert.equal(1, gl:stats().batches_failed)
  end)
end)

describe("the batch table", function()
  it("gives json (fetched when first read) only while its send is not settled", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local path = dir .. "/late_json.lua"
    local f = assert(io.open(path, "w"))
    f:write([[
local core = require "gatelog.core"
local cjson = require "cjson"
local kept
return {
  send = function(b, done)
    if kept then
      local ok, err = pcall(function() return kept.json end)
      core.log("warn", "late json: " .. tostring(ok) .. " " .. tostring(err))
    end
    kept = b -- its json is never read while it is in flight
    core.senders.capture(cjson.encode({ payload = b.payload }), function(ok) done(ok) end)
  end,
}
]])
    f:close()
    local S2 = require "support"
    local gl, cap, logs = S2.new({ script = path, batch_max = 2, max_inflight = 1 })
    cap.mode = "hold"
    for i = 1, 4 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S2.run_until(gl, function() return #cap.held >= 1 end))
    local held = cap.held
    cap.held = {}
    for _, h in ipairs(held) do h.reply(true) end
    assert.truthy(S2.run_until(gl, function() return #cap.held >= 1 end))
    local late
    for _, l in ipairs(logs) do late = late or l.msg:match("late json: .*") end
    assert.matches("late json: false .*can be read only until the send is answered", late)
    gl:close(0.1)
    os.execute("rm -rf " .. dir)
  end)
end)
