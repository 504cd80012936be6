-- A script runtime that cannot hurt the gateway: the sandbox, the time and
-- memory budgets, sends that never answer, and error lines that cannot
-- flood the log.
local gatelog = require "gatelog"
local S = require "support"

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local n = 0
local function script(body)
  n = n + 1
  local path = ("%s/s%d.lua"):format(dir, n)
  local f = assert(io.open(path, "w"))
  f:write('local policy = require "capture"\n', body, "\nreturn policy\n")
  f:close()
  return path
end

local function end_sessions(gl, resources)
  for _, r in ipairs(resources) do gl:tcp_end(gl:tcp_start(r, "10.0.0.1:" .. r, "10.0.0.2:80")) end
end

describe("the sandbox", function()
  it("keeps os.exit, io, debug, ffi, package and bytecode out of reach", function()
    local path = script [[
local results = {}
local function check(name, f) local ok, v = pcall(f) results[name] = ok and v or false end
check("os_exit", function() return os.exit ~= nil end)
check("os_execute", function() return os.execute ~= nil end)
check("io", function() return io ~= nil end)
check("io_popen", function() return io.popen ~= nil end)
check("debug", function() return debug ~= nil end)
check("package", function() return package ~= nil end)
check("getfenv", function() return getfenv ~= nil end)
check("jit", function() return jit ~= nil end)
check("dofile", function() return dofile ~= nil end)
check("ffi", function() return require("ffi") ~= nil end)
check("string_dump", function() return string.dump ~= nil or ("").dump ~= nil end)
check("bytecode", function() return load(string.char(27) .. "LJ\2") ~= nil end)
check("gc_stop", function() collectgarbage("stop") return true end)
check("require_outside", function() return require("busted") ~= nil end)
check("cjson", function() return require("cjson").encode({ 1 }) == "[1]" end)
check("text_load", function() return load("return 41 + 1")() == 42 end)
check("core", function() return type(require("gatelog.core").file_append) == "function" end)
policy.enrich = function(s) for k, v in pairs(results) do s[k] = v end end
]]
    local gl, cap = S.new({ script = path })
    local r = S.one_record(gl, cap)
    for _, k in ipairs({ "os_exit", "os_execute", "io", "io_popen", "debug", "package", "getfenv",
                         "jit", "dofile", "ffi", "string_dump", "bytecode", "gc_stop", "require_outside" }) do
      assert.equal(false, r[k], k .. " is reachable")
    end
    assert.is_true(r.cjson)
    assert.is_true(r.text_load)
    assert.is_true(r.core)
    gl:close(1)
  end)

  it("gives a trusted script (sandbox = false) the full library, ffi included", function()
    local path = script [[
policy.enrich = function(s)
  s.ffi = require("ffi").sizeof("int") == 4
  s.io = io.open ~= nil
  s.debug = debug.traceback ~= nil
end
]]
    local gl, cap = S.new({ script = path, sandbox = false })
    local r = S.one_record(gl, cap)
    assert.is_true(r.ffi)
    assert.is_true(r.io)
    assert.is_true(r.debug)
    gl:close(1)
  end)

  it("refuses a precompiled script", function()
    local src = dir .. "/plain.lua"
    local f = assert(io.open(src, "w"))
    f:write("return { send = function(b, done) done(true) end }")
    f:close()
    local bc = dir .. "/compiled.lua"
    assert(os.execute("luajit -b " .. src .. " " .. bc) == 0)
    local gl, err, name = gatelog.new({ script = bc, log = function() end })
    assert.is_nil(gl)
    assert.equal("ESCRIPT", name)
    assert.matches("bytecode", err)
  end)
end)

describe("the time budget", function()
  for _, where in ipairs({ "filter", "enrich" }) do
    it("stops while true do end in " .. where .. " and keeps delivering", function()
      local path = script(([[
policy.%s = function(s)
  if s.resourceId == 7 then while true do end end
  if s.resourceId == 8 then while true do pcall(function() while true do end end) end end
  %s
end
]]):format(where, where == "filter" and "return true" or "s.ok = true"))
      local gl, cap, logs = S.new({ script = path, script_budget = 0.01 })
      end_sessions(gl, { 1, 7, 2, 8, 3 })
      gl:flush()
      assert.truthy(S.run_until(gl, function() return #cap.records == 5 end))
      local st = gl:stats()
      assert.equal(2, st.budget_exceeded)
      assert.equal(2, st[where .. "_errors"])
      assert.equal(5, st.records_kept)
      if where == "enrich" then
        for _, r in ipairs(cap.records) do assert.equal(r.resourceId ~= 7 and r.resourceId ~= 8 or nil, r.ok) end
      end
      local named = false
      for _, l in ipairs(logs) do named = named or l.msg:find("s%d+%.lua:%d+: script budget of 10 ms exceeded") ~= nil end
      assert.is_true(named)
      gl:close(1)
    end)
  end

  it("stops loops in a module the script requires and in code it loads", function()
    local mod = assert(io.open(dir .. "/spin.lua", "w"))
    mod:write("return function(n) local i = 0 while true do i = i + n end end\n")
    mod:close()
    local path = script [[
local spin = require "spin"
policy.filter = function(s)
  if s.resourceId == 7 then spin(1) end
  return true
end
policy.enrich = function(s)
  if s.resourceId == 8 then load("local i = 0 while true do i = i + 1 end")() end
end
]]
    local gl, cap = S.new({ script = path, script_budget = 0.01 })
    end_sessions(gl, { 1, 7, 8, 2 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 4 end))
    local st = gl:stats()
    assert.equal(2, st.budget_exceeded)
    assert.equal(1, st.filter_errors)
    assert.equal(1, st.enrich_errors)
    gl:close(1)
  end)

  it("stops a send that loops and retries the batch", function()
    local path = script [[
local send = policy.send
policy.send = function(b, done)
  if b.attempt == 1 then while true do end end
  return send(b, done)
end
]]
    local gl, cap = S.new({ script = path, flush_interval = 0.05, script_budget = 0.01 })
    end_sessions(gl, { 1, 2 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 2 end, 3))
    local st = gl:stats()
    assert.equal(1, st.budget_exceeded)
    assert.equal(1, st.send_errors)
    assert.equal(2, cap.batches[1].attempt)
    gl:close(1)
  end)

  it("drops the record instead when on_script_error is drop", function()
    local path = script [[
policy.filter = function(s)
  if s.resourceId == 7 then while true do end end
  return true
end
policy.enrich = function(s) if s.resourceId == 8 then error("no") end end
]]
    local gl, cap = S.new({ script = path, on_script_error = "drop", script_budget = 0.01 })
    end_sessions(gl, { 1, 7, 8, 2 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 2 end))
    gl:run(0.05)
    assert.same({ 1, 2 }, { cap.records[1].resourceId, cap.records[2].resourceId })
    assert.equal(2, gl:stats().records_dropped_on_error)
    gl:close(1)
  end)

  it("stops a script whose top level never returns", function()
    local gl, err, name = gatelog.new({ script = script("while true do end"), log = function() end,
                                        lua_path = S.src .. "/spec/fixtures/?.lua" })
    assert.is_nil(gl)
    assert.equal("ESCRIPT", name)
    assert.matches("budget", err)
  end)
end)

describe("the memory budget", function()
  it("stops a call that allocates without bound and keeps delivering", function()
    local path = script [[
policy.filter = function(s)
  if s.resourceId == 9 then
    local t = {}
    while true do t[#t + 1] = string.rep("x", 65536) .. #t end
  end
  return true
end
]]
    local gl, cap = S.new({ script = path, script_memory_max = 8 * 1024 * 1024, script_budget = 5 })
    end_sessions(gl, { 1, 9, 2 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 3 end))
    local st = gl:stats()
    assert.equal(1, st.memory_exceeded)
    assert.equal(1, st.filter_errors)
    assert.is_true(st.script_memory < 8 * 1024 * 1024)
    -- and it keeps working afterwards
    end_sessions(gl, { 3, 4 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 5 end))
    gl:close(1)
  end)
end)

describe("a send that never answers", function()
  it("is timed out and retried, and its late done is ignored", function()
    local path = script [[
local send = policy.send
local late
policy.send = function(b, done)
  if b.attempt == 1 then late = done return end  -- never answers
  if late then late(true) late = nil end         -- answers the first, too late
  return send(b, done)
end
]]
    local gl, cap = S.new({ script = path, send_timeout = 0.1, flush_interval = 0.05 })
    end_sessions(gl, { 1, 2, 3 })
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 3 end, 3))
    gl:run(0.05)
    local st = gl:stats()
    assert.equal(1, st.sends_timed_out)
    assert.equal(1, st.batches_failed)
    assert.equal(1, st.done_ignored)
    assert.equal(1, st.batches_sent)
    assert.equal(3, #cap.records)
    gl:close(1)
  end)
end)

describe("script error lines", function()
  it("go out at most once a second per function, saying how many were held", function()
    local path = script [[
-- (resource 0 is the synthetic record a load tries: it must pass)
policy.filter = function(s) if s.resourceId > 0 then error("filter says no") end return true end
policy.enrich = function(s) if s.resourceId > 0 then error("enrich says no") end end
]]
    local gl, cap, logs = S.new({ script = path })
    local ids = {}
    for i = 1, 50 do ids[i] = i end
    end_sessions(gl, ids)
    local function lines(fn)
      local out = {}
      for _, l in ipairs(logs) do if l.msg:find("^policy " .. fn .. " failed") then out[#out + 1] = l.msg end end
      return out
    end
    assert.equal(1, #lines("filter"))
    assert.equal(1, #lines("enrich"))
    gl:run(1.1)
    end_sessions(gl, { 51 })
    assert.equal(2, #lines("filter"))
    assert.matches("%(49 more since the last line%)", lines("filter")[2])
    assert.equal(51, gl:stats().filter_errors)
    gl:close(1)
  end)
end)
