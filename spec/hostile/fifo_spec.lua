-- A FIFO blocks open(2) until its other end opens, and a write until it
-- reads: as the script, as a module, or as a file_append target it held
-- the loop thread or a thread of libuv's pool for good. Files the core
-- opens for a script must be regular files, opened without blocking.
local ffi = require "ffi"
local gatelog = require "gatelog"
local H = require "hostile.harness"

ffi.cdef [[ int open(const char *path, int flags, ...); int close(int fd); ]]
local O_RDONLY, O_NONBLOCK = 0, 2048 -- Linux

describe("a FIFO", function()
  it("as a file_append target fails the append at once, with or without a reader", function()
    assert(os.execute("mkfifo " .. H.dir .. "/alone.fifo " .. H.dir .. "/read.fifo") == 0)
    local reader = ffi.C.open(H.dir .. "/read.fifo", O_RDONLY + O_NONBLOCK)
    assert(reader >= 0)
    local path = H.script(([[
local core = require "gatelog.core"
local send = policy.send
local asked = false
policy.send = function(b, done)
  if not asked then
    asked = true
    for _, f in ipairs({ "alone.fifo", "read.fifo" }) do
      for i = 1, 8 do -- more than the pool has threads
        core.file_append(%q .. "/" .. f, b.ndjson, function(ok, err) print("append: " .. tostring(err)) end)
      end
    end
  end
  return send(b, done)
end
]]):format(H.dir))
    local function answers(logs) return H.lines(logs, "^script: append:") end
    local records, _, logs = H.run(path, { resources = { 1, 2 },
                                           settle = function(logs) return #answers(logs) == 16 end })
    ffi.C.close(reader)
    assert.equal(2, #records)
    assert.equal(8, #H.lines(logs, "^script: append: ENXIO: .*alone%.fifo"))
    assert.equal(8, #H.lines(logs, "^script: append: EFTYPE: .*read%.fifo"))
  end)

  -- Run in a child process, so that a hang fails the spec instead of
  -- stalling it.
  it("as the script is refused, not waited for", function()
    local fifo = H.dir .. "/script.fifo"
    assert(os.execute("mkfifo " .. fifo) == 0)
    local child = H.write(H.dir .. "/child.lua", ([[
local gatelog = require "gatelog"
local gl, err = gatelog.new({ script = %q, log = function() end })
io.write(tostring(gl), " ", tostring(err))
]]):format(fifo))
    local p = assert(io.popen("timeout 20 luajit " .. child))
    local out = p:read("*a")
    p:close()
    assert.matches("^nil .*inappropriate file type", out)
  end)

  it("(a directory as the script gives the reason)", function()
    local gl, err = gatelog.new({ script = H.dir, log = function() end })
    assert.is_nil(gl)
    assert.matches("directory", err)
  end)

  it("as a module is refused, not waited for", function()
    assert(os.execute("mkfifo " .. H.dir .. "/modfifo.lua") == 0)
    local path = H.script [[
local ok, err = pcall(require, "modfifo")
print("module: " .. tostring(ok) .. " " .. tostring(err):match("cannot read [^\n]*"))
]]
    local _, _, logs = H.run(path)
    assert.matches("module: false cannot read .*modfifo.lua: inappropriate file type",
                   H.lines(logs, "module:")[1])
  end)
end)

