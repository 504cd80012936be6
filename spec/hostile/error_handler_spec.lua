-- xpcall's message handler runs where the error was raised, before the
-- stack unwinds; when the budget's hook raised it, hooks are still off
-- there. The sandbox's xpcall runs no handler once the budget is spent.
local H = require "hostile.harness"

describe("an xpcall message handler", function()
  it("cannot keep a call that spent its budget running, and works otherwise", function()
    local path = H.script [[
-- Seconds of CPU if nothing stops it.
local function spin() local t = 0 for i = 1, 1e9 do t = t + i end return t end
policy.filter = function(s)
  local r = s.resourceId
  if r == 7 then xpcall(function() while true do end end, spin) end
  -- A handler for an ordinary error runs, under the budget.
  if r == 8 then xpcall(function() error("plain") end, spin) end
  -- Nested: the inner handler would run hookless too.
  if r == 9 then
    xpcall(function() while true do end end, function() return xpcall(function() while true do end end, spin) end)
  end
  return true
end
policy.enrich = function(s)
  local ok, msg = xpcall(function(a, b) error(a .. b, 0) end, function(m) return "handled " .. m end, "x", "y")
  s.handled = not ok and msg
  s.passed = select(2, xpcall(function(...) return select("#", ...) end, print, 1, nil, 3))
end
]]
    local records, st = H.run(path, { resources = { 1, 7, 8, 9, 2 } })
    assert.equal(5, #records)
    assert.equal(3, st.budget_exceeded)
    assert.equal(3, st.filter_errors)
    assert.equal("handled xy", records[1].handled)
    assert.equal(3, records[1].passed)
  end)
end)
