-- A __gc runs with hooks off, at any collection and in lua_close (a
-- finalizer armed and never collected would hang gatelog_close). In the
-- sandbox no script function can become one: getmetatable gives no
-- userdata's metatable, newproxy and ffi are gone, and LuaJIT never
-- finalizes tables.
local H = require "hostile.harness"

describe("a finalizer", function()
  it("cannot be set by a script, so neither a collection nor the close runs script code", function()
    local path = H.script [[
local core = require "gatelog.core"
local function spin() local t = 0 for i = 1, 1e9 do t = t + i end return t end
local function arm(obj)
  local mt = getmetatable(obj)
  local reached = type(mt) == "table"
  if reached then pcall(rawset, mt, "__gc", spin) end
  return reached
end
-- Kept until the state closes: lua_close would run it.
kept = setmetatable({}, { __gc = spin })
local found = { newproxy = newproxy ~= nil, ffi = pcall(require, "ffi") }
policy.filter = function(s)
  found.view = arm(s)
  if s.resourceId == 7 then
    local t = setmetatable({}, { __gc = spin })
    t = nil
    collectgarbage()
  end
  return true
end
local send = policy.send
policy.send = function(b, done)
  found.timer = arm(core.timer(3600, function() end)) -- abandoned by the close, collected with the state
  local parts = {}
  for k, v in pairs(found) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  table.sort(parts)
  print("reached: " .. table.concat(parts, " "))
  return send(b, done)
end
]]
    local records, st, logs = H.run(path)
    assert.equal(3, #records)
    assert.equal(0, st.budget_exceeded)
    assert.same({ "script: reached: ffi=false newproxy=false timer=false view=false" },
                H.lines(logs, "reached:"))
  end)
end)
