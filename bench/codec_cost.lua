-- The CPU each codec costs per record, against the default codec, in
-- the same run:
--
--   LUA_CPATH='build/lua/?.so;;' luajit bench/codec_cost.lua [records] [runs] [script_budget] [codecs]
--
-- Each run pushes N TCP sessions (IPv4, batches of 100) through a core
-- whose send encodes every batch with one codec and answers done(true),
-- and measures the process's CPU time (all threads: the loop, and the
-- thread pool that compresses the default payload) from the first session
-- to the last acknowledgement. The script runs as in production: in the
-- sandbox, with the default time budget (so without the JIT, and with
-- the budget's count hook); a third argument sets script_budget (0: no
-- budget, the JIT on).
--
-- "default" is the default codec alone (send passes batch.payload on, as
-- scripts/newt.lua does): the reference's JSON, zlib level 6 and base64,
-- plus the session calls, filter-free policy and send. Every other codec
-- pays for that too (the core builds the payload of every batch), plus
-- batch.records (the records decoded into Lua tables; the "records" row
-- is that alone) and its own encoding. Printed: CPU per record, the ratio to default, and the extra
-- per record over default.
local gatelog = require "gatelog"

local N = tonumber(arg[1]) or 20000
local RUNS = tonumber(arg[2]) or 5
local BUDGET = tonumber(arg[3]) -- nil: the core's default
local ONLY = arg[4] -- "default,c-otlp": these rows only (default is always run)
local src = (debug.getinfo(1, "S").source:match("^@(.*)/bench/") or ".")
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

-- "c-NAME": the C codec of that name (gatelog.codec.native), its body
-- built on the compression threads with the default payload.
local CODECS = { "default", "records", "ndjson", "otlp", "loki", "elasticsearch", "syslog",
  "c-ndjson", "c-otlp", "c-loki", "c-elasticsearch", "c-syslog" }
if ONLY then
  local keep = { "default" }
  for name in ONLY:gmatch("[^,]+") do
    if name ~= "default" then keep[#keep + 1] = name end
  end
  CODECS = keep
end
local OPTS = { otlp = '{ host_name = "edge-1" }', syslog = '{ hostname = "edge-1" }' }

local function script(name)
  local path = dir .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "w"))
  if name == "records" then -- batch.records alone: what every codec starts from
    f:write([[
return { send = function(b, done) done(#b.records > 0) end }
]])
  elseif name == "default" then
    f:write([[
local newt = require "gatelog.codec.newt"
return { send = function(b, done) local body = newt.encode(b) done(#body > 0) end }
]])
  elseif name:sub(1, 2) == "c-" then
    local base = name:sub(3)
    f:write(([[
local codec = require("gatelog.codec.native").new(%q, %s)
return { send = function(b, done) local body = codec.encode(b) done(#body > 0) end }
]]):format(base, OPTS[base] or "{}"))
  else
    f:write(([[
local codec = require("gatelog.codec").get(%q)
local opts = { hostname = "edge-1", host_name = "edge-1" }
return { send = function(b, done) local body = codec.encode(b, opts) done(#body > 0) end }
]]):format(name))
  end
  f:close()
  return path
end

local function run(path)
  collectgarbage("collect") -- earlier runs' garbage is not this run's cost
  local gl = assert(gatelog.new({ script = path, access_log = false, batch_max = 100, queue_max = 1000000,
    flush_interval = 3600, script_budget = BUDGET, lua_path = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua" }))
  local t0 = os.clock()
  for i = 1, N do
    local sid = gl:tcp_start(i, "203.0.113." .. (i % 250) .. ":" .. (1024 + i % 60000), "10.0.0.5:443")
    gl:add_bytes(sid, 1000 + i, 50000 + i)
    gl:tcp_end(sid)
    if i % 1000 == 0 then gl:run(0) end
  end
  gl:flush()
  while gl:stats().records_sent < N do gl:run(0.001) end
  local cpu = os.clock() - t0
  gl:close(1)
  return cpu
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

local paths, results = {}, {}
for _, name in ipairs(CODECS) do paths[name] = script(name) results[name] = {} end
for _ = 1, RUNS do
  for _, name in ipairs(CODECS) do table.insert(results[name], run(paths[name])) end
end
print(("%d records a run (batches of 100), median of %d runs; process CPU, all threads; script_budget %s"):format(
  N, RUNS, BUDGET and tostring(BUDGET) or "default"))
local base = median(results.default) / N * 1e9
for _, name in ipairs(CODECS) do
  local per = median(results[name]) / N * 1e9
  print(("%-14s %7.0f ns/record   %4.2fx default   %+7.0f ns/record over default"):format(name, per, per / base, per - base))
end
os.execute("rm -rf " .. dir)
