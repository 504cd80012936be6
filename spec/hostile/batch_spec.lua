-- The batch handed to send is an object whose internals no script can
-- reach or rewrite (issue 12, item 1): a userdata with a locked metatable.
local S = require "support"

local script = S.script_writer()

-- A policy that runs probe(b) inside send, reports what it returned
-- through the capture sender, then answers.
local function probing(probe)
  return script(([[
local core = require "gatelog.core"
local cjson = require "cjson"
local probe = %s
return {
  send = function(b, done)
    local ok, res = pcall(probe, b)
    core.senders.capture(cjson.encode({ payload = b.payload, ok = ok, res = tostring(res) }),
      function(okk, err) done(okk, err) end)
  end,
}]]):format(probe))
end

local function probe_result(probe)
  local gl, cap = S.new({ script = probing(probe) })
  local _, b = S.one_record(gl, cap)
  gl:close(1)
  return b.ok, b.res
end

describe("the batch object", function()
  it("is a userdata whose metatable cannot be read or replaced", function()
    local ok, res = probe_result([[function(b)
      return type(b) .. " " .. tostring(getmetatable(b)) .. " " .. tostring(pcall(setmetatable, b, {}))
    end]])
    assert.is_true(ok)
    assert.equal("userdata gatelog.batch false", res)
  end)

  it("keeps its internals out of reach: no handle, offsets or reasons by index", function()
    local ok, res = probe_result([[function(b)
      return tostring(b[-2]) .. tostring(b[0]) .. tostring(b[-1]) .. tostring(rawget ~= nil)
    end]])
    assert.is_true(ok)
    assert.equal("nilnilniltrue", res)
    ok, res = probe_result("function(b) return rawget(b, 'json') end")
    assert.is_false(ok) -- rawget on a userdata raises: no table to reach into
  end)

  it("refuses writes, so b.json and the boundaries cannot be swapped for a heap read", function()
    local ok, res = probe_result([[function(b) b.json = "[" ; return "written" end]])
    assert.is_false(ok)
    assert.matches("read%-only", res)
    ok, res = probe_result([[function(b) b[0] = string.rep("\255", 64) ; return "written" end]])
    assert.is_false(ok)
  end)

  it("gives json, ndjson and records that agree, while the send is unsettled", function()
    local ok, res = probe_result([[function(b)
      local n = 0
      for line in b.ndjson:gmatch("[^\n]+") do n = n + 1 end
      return n .. " " .. #b.records .. " " .. b.count .. " " .. (b.json:sub(1, 1)) .. " " .. #b.id
    end]])
    assert.is_true(ok)
    assert.equal("1 1 1 [ 16", res)
  end)

  it("kept past its answer: payload still reads, json raises with a clear message", function()
    local path = script([[
local core = require "gatelog.core"
local cjson = require "cjson"
local kept
return {
  send = function(b, done)
    if kept then
      local ok, err = pcall(function() return kept.json end)
      local ok2, err2 = pcall(function() return kept.ndjson end)
      core.senders.capture(cjson.encode({ payload = b.payload, late = tostring(ok) .. " " .. tostring(err),
        late_nd = tostring(ok2), kept_payload = kept.payload ~= nil }), function(ok3, e) done(ok3, e) end)
    else
      kept = b
      core.senders.capture(cjson.encode({ payload = b.payload }), function(ok3, e) done(ok3, e) end)
    end
  end,
}]])
    local gl, cap = S.new({ script = path })
    S.one_record(gl, cap)
    local _, b = S.one_record(gl, cap)
    gl:close(1)
    assert.matches("false .*can be read only until the send is answered", b.late)
    assert.equal("false", b.late_nd)
    assert.is_true(b.kept_payload)
  end)

  it("shares gatelog's locked metatables: a script's object cannot be given a __gc", function()
    local ok, res = probe_result([[function(b)
      local t = require("gatelog.core").timer(3600, function() end)
      local set = pcall(setmetatable, t, { __gc = function() while true do end end })
      t:stop()
      return tostring(getmetatable(t)) .. " " .. tostring(set)
    end]])
    assert.is_true(ok)
    assert.equal("gatelog.timer false", res)
  end)

  it("names done in its argument errors", function()
    local path = script([[
local core = require "gatelog.core"
local cjson = require "cjson"
return {
  send = function(b, done)
    local ok, err = pcall(done, false, "x", 5)
    local ok2, err2 = pcall(done, false, "x", { retry_after = -1 })
    core.senders.capture(cjson.encode({ payload = b.payload, e1 = err, e2 = err2 }),
      function(okk, e) done(okk, e) end)
  end,
}]])
    local gl, cap = S.new({ script = path })
    local _, b = S.one_record(gl, cap)
    gl:close(1)
    assert.matches("done: argument 3 must be a table", b.e1, 1, true)
    assert.matches("done: retry_after must be", b.e2, 1, true)
  end)
end)
