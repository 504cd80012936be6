-- What the sandbox trusts (gatelog's own library keeps the JIT, whose
-- compiled loops never see the budget's hook) is decided in C, by the
-- content of a module: a script that changes string methods, or puts a
-- gatelog/*.lua of its own beside itself, gets no module compiled and no
-- file outside the search path.
local H = require "hostile.harness"

-- A loop the JIT would compile and run for many seconds; the interpreter
-- stops it at the budget.
local SPIN = "return function() local t = 0 for i = 1, 1e10 do t = t + i end return t end\n"

describe("trust decisions", function()
  it("do not use string methods a script can change", function()
    H.write(H.dir .. "/spin.lua", SPIN)
    local path = H.script [[
local reached = pcall(function() return getmetatable("").__index.sub end)
-- The script's own copy of string changes; require does not use it.
string.sub = function() return "gatelog." end
string.gsub = function() return "/etc/passwd" end
string.gmatch = function() return function() return "/etc/passwd" end end
local spin = require "spin"
print("string metatable: " .. tostring(getmetatable("")) .. ", its __index reached: " .. tostring(reached))
policy.filter = function(s)
  if s.resourceId == 7 then spin() end
  return true
end
]]
    local records, st, logs = H.run(path)
    assert.equal(3, #records)
    assert.equal(1, st.budget_exceeded)
    assert.same({ "script: string metatable: string, its __index reached: false" },
                H.lines(logs, "string metatable"))
  end)

  it("do not trust a gatelog.* module by its name or directory", function()
    assert(os.execute("mkdir -p " .. H.dir .. "/gatelog") == 0)
    H.write(H.dir .. "/gatelog/spin.lua", SPIN)
    local path = H.script [[
local spin = require "gatelog.spin"
local json = require "gatelog.json" -- the library's own, found in lua_path
policy.filter = function(s)
  if s.resourceId == 7 then spin() end
  return json.string("ok") == '"ok"'
end
]]
    local records, st = H.run(path)
    assert.equal(3, #records)
    assert.equal(1, st.budget_exceeded)
    assert.equal(0, st.records_filtered)
  end)

  it("keep module names inside the search path, and never open a FIFO", function()
    assert(os.execute("mkfifo " .. H.dir .. "/fifo.lua") == 0)
    local path = H.script [[
local results = {}
for _, name in ipairs({ "../x", "a..b", "/etc/passwd", ".x", "x.", "a/b", "" }) do
  local ok, err = pcall(require, name)
  results[#results + 1] = ok and "loaded " .. name or err:match("is not valid") and "refused" or err
end
local ok, err = pcall(require, "fifo")
results[#results + 1] = ok and "fifo loaded" or err:match("cannot read [^\n]*fifo%.lua: ([^\n]*)")
print("require: " .. table.concat(results, ", "))
]]
    local records, _, logs = H.run(path)
    assert.equal(3, #records)
    assert.same({ "script: require: refused, refused, refused, refused, refused, refused, refused, "
                  .. "inappropriate file type or format" }, H.lines(logs, "require:"))
  end)
end)
