-- Lines a dead sink repeats per batch are rate-limited (issue 12, item 11).
local S = require "support"

describe("a sink that fails every batch", function()
  it("gets one 'sending batch failed' line a second at most, with a count of the rest", function()
    local gl, cap, logs = S.new({ batch_max = 1, max_inflight = 20, queue_max = 1000, retry_max = 0.01 })
    cap.mode = "fail"
    for _ = 1, 20 do assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80")))) end
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed >= 40 end, 30))
    local lines = 0
    for _, l in ipairs(logs) do
      if l.msg:find("sending batch", 1, true) then lines = lines + 1 end
    end
    local failed = gl:stats().batches_failed
    gl:close(0.1)
    assert.truthy(failed >= 40)
    -- Retries every few ms: dozens of failures a second, a line a second.
    assert.truthy(lines < failed / 2, ("%d lines for %d failures"):format(lines, failed))
  end)
end)
