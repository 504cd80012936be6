-- Other C functions that can run long in one call: table.sort (n log n
-- over a table as large as the memory budget allows) polls the budget;
-- the rest are linear in bytes that the memory budget bounds.
local H = require "hostile.harness"

describe("long C calls", function()
  it("table.sort of millions stops at the budget; a comparator is script code and stops too", function()
    local path = H.script [[
local big = {}
for i = 1, 3e6 do big[i] = (i * 7919) % 1000003 end
policy.filter = function(s)
  if s.resourceId == 7 then table.sort(big) end
  if s.resourceId == 8 then table.sort(big, function(a, b) return a > b end) end
  local small = { 3, 1, 2 }
  table.sort(small)
  return small[1] == 1 and small[3] == 3
end
]]
    -- 50 ms: a step of the collector over the 24 MB table may fall in any call.
    local records, st = H.run(path, { resources = { 1, 7, 8, 2 }, script_budget = 0.05 })
    assert.equal(4, #records)
    assert.equal(2, st.budget_exceeded)
    assert.equal(0, st.records_filtered)
  end)

  it("a loop over strings as large as the memory budget allows is stopped", function()
    local path = H.script [[
policy.filter = function(s)
  if s.resourceId == 7 then
    local x = ("x"):rep(8e6)
    while true do x = x:rep(2):sub(1, 8e6) end
  end
  return true
end
]]
    local records, st = H.run(path, { script_memory_max = 32e6 })
    assert.equal(3, #records)
    -- Each call is bounded (H.run); the loop is stopped by one budget or the
    -- other, and a slow machine may stop another call too.
    assert.is_true(st.budget_exceeded + st.memory_exceeded >= 1)
  end)
end)
