-- A sink that fails for a while: the core retries it no more than
-- retry_max apart (with jitter), delivers everything once it is back when
-- the memory budget held it, and otherwise drops the oldest, says so while
-- it drops, and gives the total once the drops stop. Timing is asserted on
-- the core's own schedule (retry_wait_ms), never on the wall clock.
local S = require "support"

local function end_sessions(gl, n)
  local ids = {}
  for i = 1, n do
    local sid = gl:tcp_start(1, "10.0.0.1:" .. (1024 + i % 60000), "10.0.0.2:80")
    assert(gl:tcp_end(sid))
    ids[#ids + 1] = sid
  end
  return ids
end

-- A core whose sink fails, and 20,000 sessions ended 1,000 a loop turn
-- while it does; the core, its capture, its log and the ids in order.
local function failing_sink_traffic(opts)
  local gl, cap, logs = S.new(opts)
  cap.mode = "fail"
  local ids = {}
  for _ = 1, 20 do
    for _, id in ipairs(end_sessions(gl, 1000)) do ids[#ids + 1] = id end
    gl:run(0.01)
  end
  return gl, cap, logs, ids
end

describe("a sink that fails for a while", function()
  local gl, cap, logs
  after_each(function()
    if gl then gl:close(1) end
    gl = nil
  end)

  it("is retried at most retry_max apart, with jitter, and the first retry once it is back delivers", function()
    gl, cap = S.new({ batch_max = 10, flush_interval = 60, retry_max = 0.2 })
    cap.mode = "fail"
    local ids = end_sessions(gl, 50)
    local waits, failed = {}, 0
    assert.truthy(S.run_until(gl, function()
      local st = gl:stats()
      if st.batches_failed > failed then
        failed = st.batches_failed
        waits[#waits + 1] = st.retry_wait_ms
      end
      return #waits >= 8
    end, 30))
    local distinct = {}
    for _, w in ipairs(waits) do
      -- 1 s doubling, capped at 200 ms, drawn from [step/2, step]
      assert.is_true(w >= 100 and w <= 200, "a wait of " .. w .. " ms")
      distinct[w] = true
    end
    assert.is_true(S.count_keys(distinct) > 1, "no jitter")
    -- Only the batches at the sender when it failed (max_inflight, 4) wait
    -- again: after that one send at a time, the oldest, probes it.
    assert.is_true(gl:stats().records_retrying <= 40)
    -- The sink comes back: the retry already scheduled (within retry_max)
    -- is the first attempt, and it delivers.
    local before = gl:stats()
    assert.is_true(before.retry_wait_ms > 0 and before.retry_wait_ms <= 200)
    cap.mode = "ok"
    assert.truthy(S.run_until(gl, function() return #cap.records == 50 end, 10))
    local st = gl:stats()
    assert.equal(before.batches_failed, st.batches_failed)
    assert.equal(0, st.retry_wait_ms)
    assert.equal(0, st.records_dropped)
    assert.same(ids, S.ids(cap.records))
  end)

  it("loses nothing that fits the memory budget", function()
    local ids
    gl, cap, logs, ids = failing_sink_traffic({ flush_interval = 60, retry_max = 0.05 })
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed >= 3 end, 10))
    local st = gl:stats()
    assert.equal(0, st.records_dropped)
    assert.equal(20000, st.records_queued)
    assert.is_true(st.bytes_queued < st.records_queued * 1000)
    cap.mode = "ok"
    assert.truthy(S.run_until(gl, function() return #cap.records == 20000 end, 60))
    assert.same(ids, S.ids(cap.records))
  end)

  it("past queue_max_bytes drops the oldest, warns while it drops, and then gives the total", function()
    local ids
    gl, cap, logs, ids = failing_sink_traffic({ flush_interval = 60, retry_max = 60, queue_max_bytes = 1048576 })
    -- Once the drops have stopped for a second, a line with their total:
    -- the totals add up to every record dropped.
    local function totals()
      local sum, n = 0, 0
      for _, l in ipairs(logs) do
        local t = l.msg:match("^dropped ([%d,]+) records %(%d+ batches%) in the last %d+ s$")
        if t then
          assert.matches("^%d%d?%d?[%d,]*$", t)
          assert.is_nil(t:find("%d%d%d%d")) -- 19,500, not 19500
          sum, n = sum + tonumber((t:gsub(",", ""))), n + 1
        end
      end
      return sum, n
    end
    assert.truthy(S.run_until(gl, function()
      local sum, n = totals()
      return n > 0 and sum == gl:stats().records_dropped
    end, 10))
    local st = gl:stats()
    assert.is_true(st.bytes_queued <= 1048576)
    assert.is_true(st.records_dropped >= 10000) -- 1 MiB holds some 3,500 of these
    assert.equal(20000, st.records_dropped + st.records_queued)
    assert.equal(st.records_dropped, st.batches_dropped * 100)
    local warned
    for _, l in ipairs(logs) do
      warned = warned or (l.level == "warn" and l.msg:match("^queue over queue_max_bytes=1048576: dropped the %d+ oldest records"))
    end
    assert.truthy(warned)
    -- What was kept is the newest, and it is delivered once the sink is back.
    cap.mode = "ok"
    gl:flush()
    local kept = 20000 - st.records_dropped
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == kept end, 30))
    -- Delivered once each, in order, and the newest: only a batch that was
    -- at the sender when a drop came may be older than the rest.
    local index = {}
    for i, id in ipairs(ids) do index[id] = i end
    local last, older = 0, 0
    for _, r in ipairs(cap.records) do
      local i = index[r.sessionId]
      assert.is_true(i > last)
      last = i
      if i <= 20000 - kept then older = older + 1 end
    end
    assert.equal(20000, last)
    assert.is_true(older <= 100)
    assert.equal(0, gl:stats().bytes_queued)
  end)
end)
