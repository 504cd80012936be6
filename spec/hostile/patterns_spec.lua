-- Pattern matching runs in one C call where no hook runs, and Lua
-- patterns backtrack: LuaJIT's own took more than 20 s for the first of
-- these. The sandbox's string.find, match, gmatch and gsub poll the
-- budget as they go.
local H = require "hostile.harness"

describe("pattern functions", function()
  it("stop at the budget however long the match would take", function()
    local path = H.script [[
local a = ("a"):rep(3000)
local runaway = {
  [7] = function() return string.find(a, ("a*"):rep(4) .. "b") end,
  [8] = function() return a:match(("a-"):rep(5) .. "b") end,
  [9] = function() for _ in a:gmatch(("a*"):rep(4) .. "b") do end end,
  [10] = function() return (("("):rep(30000)):gsub("%b()", "") end,
  [11] = function() return (("x"):rep(2000)):gsub(".", ("y"):rep(20000)) end,
  [12] = function() return (("x"):rep(3000)):gsub("(x*)(x*)(x*)y", "%1") end,
  [13] = function() return (("a"):rep(3e6)):find(("a"):rep(2e5) .. "b", 1, true) end,
}
policy.enrich = function(s)
  local f = runaway[s.resourceId]
  if f then f() end
  -- Ordinary matches still work.
  s.host = ("www.example.org:443"):match("^([^:]+):(%d+)$")
  s.n = select(2, ("a,b,c"):gsub(",", ";"))
end
]]
    local records, st = H.run(path, { resources = { 1, 7, 8, 9, 10, 11, 12, 13, 2 } })
    assert.equal(9, #records)
    -- The plain find is linear (memmem): it need not reach the budget.
    assert.is_true(st.budget_exceeded >= 6)
    assert.equal(st.budget_exceeded, st.enrich_errors)
    assert.equal("www.example.org", records[1].host)
    assert.equal(2, records[1].n)
  end)
end)
