-- What a script returns, and what its chunk does while it loads, cannot
-- run script code outside a protected, budgeted call nor leave I/O behind
-- a load that fails (issue 12, items 2 and 3); a send that raises after
-- its I/O started is not retried under it (item 5).
local S = require "support"
local gatelog = require "gatelog"

local script, dir = S.script_writer()

local GOOD = [[
local core = require "gatelog.core"
return { send = function(b, done) core.senders.capture(require("cjson").encode({ payload = b.payload }), function(ok, e) done(ok, e) end) end }
]]

local HOSTILE_RETURNS = {
  raising_index = "return setmetatable({}, { __index = function(t, k) error('x') end })",
  looping_index = "return setmetatable({}, { __index = function(t, k) while true do end end })",
  raising_config = [[return setmetatable({ send = function(b, done) done(true) end },
    { __index = function(t, k) error('config read through __index') end })]],
}

describe("a hostile returned table", function()
  for name, text in pairs(HOSTILE_RETURNS) do
    it("(" .. name .. ") is read raw: a clear error or a clean load, the process alive", function()
      local gl, err = gatelog.new({ script = script(text), access_log = false, log = function() end })
      if name == "raising_config" then
        assert.truthy(gl, err) -- config is absent, not read through __index
        gl:close(1)
      else
        assert.is_nil(gl)
        assert.matches("'send' must be a function", err, 1, true)
      end
    end)

    it("(" .. name .. ") given to reload leaves the running script in place", function()
      local path = script(GOOD)
      local gl, cap = S.new({ script = path })
      local f = assert(io.open(path, "w"))
      f:write(name == "raising_config" and HOSTILE_RETURNS.looping_index or text)
      f:close()
      assert.is_nil((gl:reload()))
      assert.truthy(S.one_record(gl, cap))
      gl:close(1)
    end)
  end
end)

describe("I/O from a loading chunk", function()
  it("is refused, so a load that then fails leaves nothing holding its state", function()
    local target = dir .. "/appended.txt"
    local path = script(([[
local core = require "gatelog.core"
local ok, err = pcall(core.file_append, %q, "x", function() end)
assert(not ok and err:find("while the script loads", 1, true), "file_append was not refused: " .. tostring(err))
local ok2, err2 = pcall(core.senders.capture or function() error("while the script loads") end, "x", function() end)
assert(not ok2 and tostring(err2):find("while the script loads", 1, true), "sender was not refused")
return 42
]]):format(target))
    local gl, cap = S.new({ script = script(GOOD) })
    local f = assert(io.open(gl:script_info().path, "w"))
    f:write(assert(io.open(path)):read("*a"))
    f:close()
    local ok, err = gl:reload()
    assert.is_nil(ok)
    assert.matches("must return a table", err, 1, true) -- the asserts above held
    assert.truthy(S.one_record(gl, cap))
    gl:close(1)
    assert.is_nil(io.open(target))
  end)
end)

describe("a send that raises", function()
  it("after starting its I/O is not retried: the batch arrives once", function()
    local gl, cap = S.new({ script = script([[
local core = require "gatelog.core"
return { send = function(b, done)
  core.senders.capture(require("cjson").encode({ payload = b.payload }), function(ok, e) done(ok, e) end)
  error("raised after the request went out")
end }]]) })
    for _ = 1, 3 do S.one_record(gl, cap) end
    S.run_until(gl, function() return false end, 0.2)
    local st = gl:stats()
    gl:close(1)
    assert.equal(3, #cap.batches)
    assert.equal(3, st.batches_sent)
    assert.equal(0, st.batches_retried)
    assert.equal(3, st.sends_raised_after_io)
    assert.equal(3, st.send_errors)
  end)

  it("before starting any I/O fails at once and is retried", function()
    local gl, cap = S.new({ script = script([[
local core = require "gatelog.core"
local first = true
return { send = function(b, done)
  if first then first = false error("raised before any I/O") end
  core.senders.capture(require("cjson").encode({ payload = b.payload }), function(ok, e) done(ok, e) end)
end }]]) })
    assert.truthy(S.one_record(gl, cap))
    local st = gl:stats()
    gl:close(1)
    assert.equal(1, #cap.batches)
    assert.equal(1, st.batches_retried)
    assert.equal(0, st.sends_raised_after_io)
  end)
end)
