-- scripts/default.lua: NDJSON to the file GATELOG_OUTPUT names, or to
-- standard output, through the core's asynchronous file_append.
local ffi = require "ffi"
local cjson = require "cjson"
local gatelog = require "gatelog"
local S = require "support"

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
struct gl_rlimit { unsigned long cur, max; };
int getrlimit(int resource, struct gl_rlimit *rl);
int setrlimit(int resource, const struct gl_rlimit *rl);
typedef void (*gl_sighandler)(int);
gl_sighandler signal(int sig, gl_sighandler handler);
]]
local RLIMIT_FSIZE, SIGXFSZ = 1, 25 -- Linux

local DEFAULT = S.src .. "/scripts/default.lua"

local function lines(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end

local function new_default(output, opts)
  if output then ffi.C.setenv("GATELOG_OUTPUT", output, 1) else ffi.C.unsetenv("GATELOG_OUTPUT") end
  local logs = {}
  opts = opts or {}
  opts.script = DEFAULT
  opts.access_log = false
  opts.log = function(level, msg) logs[#logs + 1] = { level = level, msg = msg } end
  local gl = assert(gatelog.new(opts))
  return gl, logs
end

describe("the default script", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir) == 0)
  end)
  after_each(function()
    os.execute("rm -rf " .. dir)
    ffi.C.unsetenv("GATELOG_OUTPUT")
  end)

  it("appends one JSON record a line, batch after batch, in order", function()
    local path = dir .. "/access.ndjson"
    local gl = new_default(path, { batch_max = 10, flush_interval = 0.05, queue_max = 1000 })
    local ids = {}
    for i = 1, 95 do
      local sid = gl:tcp_start(i, "[2001:db8::" .. i .. "]:" .. (1000 + i), "10.0.0.5:443")
      gl:add_bytes(sid, i, 2 * i)
      gl:tcp_end(sid)
      ids[i] = sid
    end
    assert.truthy(S.run_until(gl, function() return #lines(path) == 95 end, 5))
    for i, line in ipairs(lines(path)) do
      local r = cjson.decode(line)
      assert.equal(ids[i], r.sessionId)
      assert.equal(i, r.resourceId)
      assert.equal(2 * i, r.bytesRx)
      assert.matches('^{"sessionId":', line)
    end
    local st = gl:close(2)
    assert.equal(95, st.records_sent)
  end)

  it("retries a file it cannot write, and loses and repeats nothing", function()
    local path = dir .. "/later/access.ndjson"
    local gl, logs = new_default(path, { batch_max = 5, flush_interval = 0.03 })
    for i = 1, 12 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed >= 2 end, 3))
    local named = false
    for _, l in ipairs(logs) do named = named or l.msg:find("ENOENT", 1, true) ~= nil end
    assert.is_true(named)
    assert(os.execute("mkdir -p " .. dir .. "/later") == 0)
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 12 end, 5))
    local st = gl:close(2)
    assert.equal(12, st.records_sent)
    local seen = {}
    for _, line in ipairs(lines(path)) do
      local id = cjson.decode(line).sessionId
      assert.is_nil(seen[id])
      seen[id] = true
    end
    assert.equal(12, S.count_keys(seen))
  end)

  -- A full disk, as the process sees it: a file size limit (RLIMIT_FSIZE,
  -- with SIGXFSZ ignored) makes the write fail part way (EFBIG). A device
  -- such as /dev/full is not a regular file, and is refused.
  it("reports a write that fails as a failed send, keeps the batch, and leaves no half batch", function()
    local path = dir .. "/full.ndjson"
    local gl, logs = new_default(path, { batch_max = 3, flush_interval = 0.03 })
    local old = ffi.new("struct gl_rlimit")
    assert(ffi.C.getrlimit(RLIMIT_FSIZE, old) == 0)
    local handler = ffi.C.signal(SIGXFSZ, ffi.cast("gl_sighandler", 1)) -- SIG_IGN
    assert(ffi.C.setrlimit(RLIMIT_FSIZE, ffi.new("struct gl_rlimit", 100, old.max)) == 0)
    for i = 1, 3 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    local failed = S.run_until(gl, function() return gl:stats().batches_failed >= 2 end, 5)
    assert(ffi.C.setrlimit(RLIMIT_FSIZE, old) == 0)
    ffi.C.signal(SIGXFSZ, handler)
    assert.truthy(failed)
    local st = gl:stats()
    assert.equal(0, st.records_sent)
    assert.equal(3, st.records_queued)
    local said = false
    for _, l in ipairs(logs) do said = said or l.msg:find("EFBIG", 1, true) ~= nil end
    assert.is_true(said)
    assert.equal(0, #lines(path)) -- truncated back after each failed write
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 3 end, 5))
    gl:close(1)
    assert.equal(3, #lines(path))
  end)

  it("refuses a device, a FIFO and a symbolic link out of its directory", function()
    assert(os.execute("mkfifo " .. dir .. "/fifo && ln -s /dev/null " .. dir .. "/link") == 0)
    for _, target in ipairs({ "/dev/full", dir .. "/fifo", dir .. "/link" }) do
      local gl, logs = new_default(target, { batch_max = 3, flush_interval = 0.03 })
      for i = 1, 3 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
      assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed >= 1 end, 5))
      local said = false
      for _, l in ipairs(logs) do said = said or l.msg:find("E[A-Z]+: " .. target) ~= nil end
      assert.is_true(said, target)
      assert.equal(3, gl:close(0.1).lost_on_close)
    end
  end)

  it("writes to standard output when GATELOG_OUTPUT is not set", function()
    local child = [[
      local gatelog = require "gatelog"
      local gl = assert(gatelog.new{ script = %q, access_log = false })
      for i = 1, 3 do gl:tcp_end(gl:tcp_start(i, "10.0.0.1:" .. i, "10.0.0.2:80")) end
      local st = gl:close(2)
      io.stderr:write("sent=", st.records_sent, "\n")
    ]]
    local file = dir .. "/child.lua"
    local f = assert(io.open(file, "w"))
    f:write(child:format(DEFAULT))
    f:close()
    local p = assert(io.popen("env -u GATELOG_OUTPUT luajit " .. file .. " 2>" .. dir .. "/err"))
    local out = p:read("*a")
    p:close()
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.equal(n, cjson.decode(line).resourceId)
    end
    assert.equal(3, n)
    assert.matches("sent=3", io.open(dir .. "/err"):read("*a"))
  end)
end)
