-- What a record costs the memory budget (queue_max_bytes) while the sink is
-- down, and so how long an outage a budget rides out:
--
--   LUA_CPATH='build/lua/?.so;;' luajit bench/queue_bytes.lua [records] [sessions/s]
--
-- Sessions shaped as gatelog-bench makes them (85 % TCP, 15 % UDP, 5 %
-- IPv6, varied addresses, ports, resources and byte counts) go through a
-- core whose send never answers, at default settings otherwise, with the
-- default codec and no enrichment (scripts/default.lua's records), then
-- with two enrichment fields (bench/policy.lua's). Once every batch is
-- compressed, bytes_queued / records_queued is what one record holds
-- (its JSON, and its share of the base64(zlib) payload), and the budget
-- for a one-minute outage at the given rate (default 10,000 sessions/s)
-- follows. RSS B/rec is what the process grew by, per record held (each
-- variant runs in a process of its own): the allocator's share and the
-- per-record bookkeeping (record ends, endReasons) beside what the budget
-- counts.
local gatelog = require "gatelog"

local N = tonumber(arg[1]) or 200000
local RATE = tonumber(arg[2]) or 10000
local ONE = arg[3] -- internal: measure this variant alone
local src = (debug.getinfo(1, "S").source:match("^@(.*)/bench/") or ".")
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function script(name, text)
  local path = dir .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local PLAIN = script("plain", "return { send = function(b, done) end }\n")
local ENRICHED = script("enriched", [[
return {
  enrich = function(s) s.site = "edge-1"; s.policy = "allow" end,
  send = function(b, done) end,
}
]])

local rng = 1
local function rand(n)
  rng = (rng * 1103515245 + 12345) % 2147483648
  return rng % n
end

local SERVICES = { 443, 443, 443, 80, 22, 8443, 5432, 3306 }

local function endpoints()
  local udp = rand(100) < 15
  local sport = 1024 + rand(64000)
  local dport = udp and (rand(2) == 0 and 53 or 51820) or SERVICES[rand(8) + 1]
  if rand(100) < 5 then
    return udp, ("[2001:db8:%x:%x::%x]:%d"):format(rand(65536), rand(65536), rand(65536), sport),
      ("[2001:db8::22:%x]:%d"):format(rand(64), dport)
  end
  return udp, ("198.51.%d.%d:%d"):format(rand(256), rand(256), sport),
    ("10.0.0.%d:%d"):format(rand(64), dport)
end

local function bytes()
  if rand(100) < 5 then return 100000 + rand(5000000) end
  return 40 + rand(4000)
end

-- Resident set size in bytes (Linux).
local function rss()
  local f = io.open("/proc/self/statm")
  if not f then return 0 end
  local pages = f:read("*l"):match("^%d+ (%d+)")
  f:close()
  return tonumber(pages) * 4096
end

local function measure(path)
  collectgarbage("collect")
  local rss0 = rss()
  local gl = assert(gatelog.new({ script = path, access_log = false, send_timeout = 3600,
    lua_path = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua" }))
  for i = 1, N do
    local udp, a, b = endpoints()
    local sid = assert((udp and gl.udp_track or gl.tcp_start)(gl, rand(200), a, b))
    gl:add_bytes(sid, bytes(), bytes())
    assert((udp and gl.udp_end or gl.tcp_end)(gl, sid))
    if i % 10000 == 0 then gl:run(0.001) end
  end
  gl:flush()
  -- Every batch is compressed once the bytes held stop growing.
  local last, still = -1, 0
  while still < 5 do
    gl:run(0.05)
    local held = gl:stats().bytes_queued
    if held == last then still = still + 1 else still = 0 end
    last = held
  end
  local st = gl:stats()
  st.rss = rss() - rss0
  gl:close(0)
  return st
end

local VARIANTS = { { "default (no enrich)", PLAIN }, { "two enrich fields", ENRICHED } }

if ONE then
  local v = VARIANTS[tonumber(ONE)]
  local st = measure(v[2])
  local per = st.bytes_queued / st.records_queued
  local json = st.bytes_json / st.records_queued
  print(("%-22s %10.1f %10.1f %10.1f %8.0f MiB %12.1f"):format(v[1], json, per - json, per,
    per * RATE * 60 / 2 ^ 20, st.rss / st.records_queued))
else
  print(("%d records a run; budget for 60 s at %d sessions/s"):format(N, RATE))
  print(("%-22s %10s %10s %10s %12s %12s"):format("records", "JSON B/rec", "payload", "held B/rec",
    "60 s budget", "RSS B/rec"))
  local self = debug.getinfo(1, "S").source:sub(2)
  for i = 1, #VARIANTS do
    local p = assert(io.popen(("'%s' '%s' %d %d %d 2>/dev/null"):format(arg[-1], self, N, RATE, i)))
    io.write(p:read("*a"))
    p:close()
  end
end
os.execute("rm -rf " .. dir)
