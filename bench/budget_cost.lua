-- The cost per record of the script time budget: the JIT off for the
-- policy's state plus a count hook, against the JIT on and no hook
-- (script_budget = 0), and against no filter/enrich at all.
--
--   LUA_CPATH='build/lua/?.so;;' luajit bench/budget_cost.lua [records] [runs]
--
-- Each run ends N sessions with batching held back (no compression in the
-- measured part), so the time is the loop thread's: the session calls
-- through the Lua module, filter and enrich. Prints medians and the
-- difference per record against the no-script baseline measured in the
-- same run.
local gatelog = require "gatelog"

local N = tonumber(arg[1]) or 200000
local RUNS = tonumber(arg[2]) or 5
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function write(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local send = "send = function(b, done) done(true) end,"
local scripts = {
  { "no filter/enrich", write("none.lua", "return { " .. send .. " }"), 10 },
  { "filter+enrich, budget off (JIT on)", write("policy.lua", [[
return {
  filter = function(s) return s.destPort ~= 53 end,
  enrich = function(s) s.site = "edge-1"; s.big = s.bytesRx > 1000 end,
  ]] .. send .. [[
}]]), 0 },
}
scripts[3] = { "filter+enrich, budget 10 ms (JIT off + hook)", scripts[2][2], 10 }

local function run(path, budget)
  local gl = assert(gatelog.new({ script = path, access_log = false, script_budget = budget / 1000,
    log = function() end, -- the close below drops the held records on purpose
    batch_max = 1000000, queue_max = 1000000000, flush_interval = 3600 }))
  local t0 = gatelog.now()
  for i = 1, N do
    local sid = gl:tcp_start(i, "10.1.2.3:40000", "10.0.0.5:443")
    gl:tcp_end(sid)
  end
  local dt = gatelog.now() - t0
  gl:close(0)
  return dt
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

local results = {}
for r = 1, RUNS do
  for i, s in ipairs(scripts) do
    results[i] = results[i] or {}
    results[i][r] = run(s[2], s[3])
  end
end
print(("%d sessions a run, median of %d runs"):format(N, RUNS))
local base = median(results[1]) / N * 1e9
for i, s in ipairs(scripts) do
  local per = median(results[i]) / N * 1e9
  print(("%-46s %8.0f ns/session   %+6.0f ns vs no script"):format(s[1], per, per - base))
end
os.execute("rm -rf " .. dir)
