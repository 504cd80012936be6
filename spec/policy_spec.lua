-- The policy script: loading, config, filter, enrich, and errors that
-- must not cost a record.
local gatelog = require "gatelog"
local S = require "support"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local function script(name, text) return write(tmp .. "/" .. name, text) end

local CAPTURE = [[
local core = require "gatelog.core"
local cjson = require "cjson"
local policy = {
  send = function(b, done)
    core.senders.capture(cjson.encode({ payload = b.payload, json = b.json, id = b.id,
      attempt = b.attempt, count = b.count }), function(ok, err) done(ok, err) end)
  end,
}
]]

local function try_new(path, extra)
  local opts = { script = path, access_log = false, log = function() end }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return gatelog.new(opts)
end

describe("loading a policy", function()
  it("fails with the script's file, line and message when it does not parse", function()
    local path = script("syntax.lua", "return {\n send = function(b, done)\n  done(true\nend }\n")
    local gl, err, name = try_new(path)
    assert.is_nil(gl)
    assert.equal("ESCRIPT", name)
    assert.matches("syntax.lua:%d+:", err)
  end)

  it("fails when the script is missing, raises, or returns no send", function()
    local cases = {
      { tmp .. "/missing.lua", "missing.lua" },
      { script("raises.lua", "error('no config here')"), "no config here" },
      { script("nothing.lua", "return 42"), "must return a table" },
      { script("nosend.lua", "return { filter = function() return true end }"), "'send' must be a function" },
      { script("badfilter.lua", "return { send = function() end, filter = 'yes' }"), "'filter' must be a function" },
      { script("badenrich.lua", "return { send = function() end, enrich = {} }"), "'enrich' must be a function" },
    }
    for _, c in ipairs(cases) do
      local gl, err, name = try_new(c[1])
      assert.is_nil(gl)
      assert.equal("ESCRIPT", name)
      assert.matches(c[2], err, 1, true)
      assert.matches(c[1], err, 1, true)
    end
  end)

  it("refuses an unknown config key or a value out of range, naming it", function()
    local cases = {
      { "{ flush_intervall = 5 }", "unknown key 'flush_intervall'" },
      { "{ batch_max = 0 }", "config.batch_max" },
      { "{ batch_max = 1.5 }", "config.batch_max" },
      { "{ compression_level = 10 }", "config.compression_level" },
      { "{ flush_interval = 'soon' }", "config.flush_interval" },
      { "{ access_log = 1 }", "config.access_log" },
      { "{ batch_max = 50, queue_max = 10 }", "queue_max_records must be at least batch_max_records" },
      { "'fast'", "config: must be a table" },
    }
    for i, c in ipairs(cases) do
      local path = script("config" .. i .. ".lua", "return { send = function() end, config = " .. c[1] .. " }")
      local gl, err, name = try_new(path)
      assert.is_nil(gl)
      assert.equal("ECONFIG", name)
      assert.matches(c[2], err, 1, true)
    end
  end)

  it("applies the script's config over the options", function()
    local path = script("config_ok.lua", CAPTURE .. "policy.config = { batch_max = 3, flush_interval = 60 }\nreturn policy")
    local gl, cap = S.new({ script = path, batch_max = 50, flush_interval = 0.01 })
    for i = 1, 7 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return #cap.batches == 2 end))
    gl:run(0.1) -- the 60 s interval from the script, not the 10 ms option, is in force
    assert.equal(2, #cap.batches)
    assert.equal(3, cap.batches[1].count)
    gl:close(1)
  end)

  it("lets a script require modules from its own directory and cjson", function()
    script("helper_mod.lua", "return { site = 'from-module' }")
    local path = script("uses_module.lua", CAPTURE ..
      "local m = require 'helper_mod'\nlocal cjson = require 'cjson'\n" ..
      "policy.enrich = function(s) s.site = m.site; s.enc = cjson.encode({1}) end\nreturn policy")
    local gl, cap = S.new({ script = path })
    local r = S.one_record(gl, cap)
    assert.equal("from-module", r.site)
    assert.equal("[1]", r.enc)
    gl:close(1)
  end)
end)

describe("filter and enrich", function()
  local gl, cap, logs
  after_each(function() if gl then gl:close(1) end end)

  it("see every field of the record view", function()
    local path = script("view.lua", CAPTURE .. [[
policy.filter = function(s)
  assert(s.sessionId and #s.sessionId == 16)
  return s.destPort ~= 53
end
policy.enrich = function(s)
  for _, k in ipairs({ "sessionId", "resourceId", "protocol", "sourceAddr", "destAddr",
      "startedAt", "endedAt", "bytesTx", "bytesRx", "sourceIp", "sourcePort", "destIp",
      "destPort", "endReason" }) do
    s["v_" .. k] = s[k]
  end
  s.v_types = type(s.resourceId) .. type(s.bytesTx) .. type(s.destPort) .. type(s.sourceIp)
  s.v_missing = tostring(s.no_such_field)
end
return policy
]])
    gl, cap = S.new({ script = path })
    local sid = gl:tcp_start(42, "[2001:db8::7]:51234", "10.0.0.5:443")
    gl:add_bytes(sid, 5, 6)
    gl:tcp_end(sid)
    gl:udp_end(gl:udp_track(1, "10.0.0.9:999", "10.0.0.1:53"))
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 1 end))
    gl:run(0.02)
    assert.equal(1, #cap.records) -- the DNS flow was filtered out
    local r = cap.records[1]
    assert.equal(sid, r.v_sessionId)
    assert.equal(42, r.v_resourceId)
    assert.equal("tcp", r.v_protocol)
    assert.equal("[2001:db8::7]:51234", r.v_sourceAddr)
    assert.equal("10.0.0.5:443", r.v_destAddr)
    assert.equal(r.startedAt, r.v_startedAt)
    assert.equal(r.endedAt, r.v_endedAt)
    assert.equal(5, r.v_bytesTx)
    assert.equal(6, r.v_bytesRx)
    assert.equal("2001:db8::7", r.v_sourceIp)
    assert.equal(51234, r.v_sourcePort)
    assert.equal("10.0.0.5", r.v_destIp)
    assert.equal(443, r.v_destPort)
    assert.equal("closed", r.v_endReason)
    assert.equal("numbernumbernumberstring", r.v_types)
    assert.equal("nil", r.v_missing)
    local st = gl:stats()
    assert.equal(1, st.records_filtered)
    assert.equal(1, st.records_kept)
  end)

  it("keep the record when filter or enrich raises, count it, and log script, line and message", function()
    local path = script("raising.lua", CAPTURE .. [[
policy.filter = function(s)
  if s.resourceId == 1 then error("filter broke") end
  return true
end
policy.enrich = function(s)
  s.partial = "set before the error"
  if s.resourceId == 2 then error("enrich broke") end
  s.ok = true
end
return policy
]])
    gl, cap, logs = S.new({ script = path })
    for i = 1, 4 do
      for r = 1, 3 do gl:tcp_end(gl:tcp_start(r, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    end
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 12 end))
    for _, r in ipairs(cap.records) do
      if r.resourceId == 2 then
        assert.is_nil(r.partial) -- kept unchanged: no half enrichment
        assert.is_nil(r.ok)
      else
        assert.equal(true, r.ok)
      end
    end
    local st = gl:stats()
    assert.equal(4, st.filter_errors)
    assert.equal(4, st.enrich_errors)
    assert.equal(8, st.script_errors)
    assert.equal(12, st.records_kept)
    -- One line per function per second, naming the script, line and message.
    local lines = {}
    for _, l in ipairs(logs) do
      if l.msg:find("^policy %a+ failed") then lines[#lines + 1] = l end
    end
    assert.equal(2, #lines)
    assert.matches("raising%.lua:%d+: filter broke", lines[1].msg)
    assert.matches("script .*raising%.lua", lines[1].msg)
    assert.matches("raising%.lua:%d+: enrich broke", lines[2].msg)
    assert.equal("error", lines[1].level)
  end)

  it("refuse writes in filter, to read-only fields, of tables, NaN, and a view kept for later", function()
    local path = script("misuse.lua", CAPTURE .. [[
local kept
policy.filter = function(s)
  local r = s.resourceId
  if r == 1 then s.x = 1 end                  -- filter may not write
  kept = s
  return true
end
policy.enrich = function(s)
  local r = s.resourceId
  if r == 2 then s.protocol = "sctp" end      -- read-only
  if r == 3 then s.t = {} end                 -- not a JSON scalar
  if r == 4 then s.n = 0/0 end                -- NaN
  if r == 5 then s.sourceAddr = 5 end         -- must be a string
  s.fine = r
end
-- The view is one object rebound to each record: kept past its call, it
-- raises rather than show another record.
local send = policy.send
policy.send = function(b, done)
  local ok, err = pcall(function() return kept.sessionId end)
  core.log("warn", "kept view: " .. tostring(ok) .. " " .. tostring(err))
  return send(b, done)
end
return policy
]])
    gl, cap, logs = S.new({ script = path })
    for r = 1, 6 do gl:tcp_end(gl:tcp_start(r, "10.0.0.1:1", "10.0.0.2:80")) end
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 6 end))
    local st = gl:stats()
    assert.equal(1, st.filter_errors)
    assert.equal(4, st.enrich_errors)
    local stale
    for _, l in ipairs(logs) do stale = stale or l.msg:match("kept view: false .*") end
    assert.matches("valid only during the filter or enrich call", stale)
    for _, r in ipairs(cap.records) do
      if r.resourceId >= 2 and r.resourceId <= 5 then assert.is_nil(r.fine) else assert.equal(r.resourceId, r.fine) end
      assert.equal("tcp", r.protocol)
      assert.equal("10.0.0.1:1", r.sourceAddr)
    end
  end)
end)
