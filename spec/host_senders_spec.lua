-- A script's `senders` list names the host senders it calls; the host
-- checks it registered them (gatelog_check_senders, gl:check_senders()),
-- so a missing one fails at start, and a reload to a script that names
-- one the host lacks fails and keeps the running script.
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

local dir
local function script(name, senders)
  local path = dir .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write("return { senders = " .. senders .. ", send = function(b, done) done(true) end }\n")
  f:close()
  return path
end

describe("host senders a script names", function()
  setup(function() dir = servers.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("scripts/newt.lua names its sender: missing, the check fails naming it; registered, it passes", function()
    local gl = assert(gatelog.new{ script = S.src .. "/scripts/newt.lua", access_log = false })
    local ok, err, code = gl:check_senders()
    assert.is_nil(ok)
    assert.equal("ECONFIG", code)
    assert.truthy(err:find("host sender 'control'", 1, true), err)
    assert(gl:register_sender("control", function(_, reply) reply(true) end))
    assert.is_true(gl:check_senders())
    gl:close(0.2)
  end)

  it("a script without a list needs nothing", function()
    local gl = assert(gatelog.new{ script = S.fixture("capture.lua"), access_log = false })
    assert.is_true(gl:check_senders())
    gl:close(0.2)
  end)

  it("a list that is not one of names fails the load", function()
    for _, bad in ipairs({ "5", "{ 1 }", "{ '' }", "{ ('x'):rep(600) }" }) do
      local gl, err = gatelog.new{ script = script("bad", bad), access_log = false }
      assert.is_nil(gl, bad)
      assert.truthy(err:find("'senders' must be a list of host sender names", 1, true), err)
    end
  end)

  it("a reload to a script that names a sender the host lacks fails; the running one stays", function()
    local path = script("live", "{ 'a' }")
    local gl = assert(gatelog.new{ script = path, access_log = false, log = function() end })
    assert(gl:register_sender("a", function(_, reply) reply(true) end))
    script("live", "{ 'a', 'b' }")
    local ok, err = gl:reload()
    assert.is_nil(ok)
    assert.truthy(err:find("host sender 'b'", 1, true), err)
    assert.equal(1, gl:stats().reload_failures)
    script("live", "{ 'a' }")
    assert(gl:reload())
    gl:close(0.2)
  end)
end)
