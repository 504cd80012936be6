-- scripts/redis.lua against a real redis-server started on loopback:
-- XRANGE returns the records, MAXLEN ~ trims, an error reply that no
-- retry can fix drops the batch.
local socket = require "socket"
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

describe("redis error replies", function()
  local redis
  setup(function()
    package.loaded["gatelog.core"] = {}
    redis = require "gatelog.transport.redis"
  end)
  teardown(function()
    package.loaded["gatelog.core"] = nil
    package.loaded["gatelog.transport.redis"] = nil
    package.loaded["gatelog.transport.conn"] = nil
  end)

  it("fail for good only where retrying cannot help", function()
    for _, e in ipairs({ "WRONGTYPE Operation against a key holding the wrong kind of value",
      "ERR unknown command 'XADD'", "ERR syntax error" }) do
      assert.is_true(redis.permanent(e), e)
    end
    for _, e in ipairs({ "OOM command not allowed", "LOADING Redis is loading", "BUSY running a script",
      "MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381", "NOAUTH Authentication required.",
      "WRONGPASS invalid username-password pair", "MISCONF Redis is configured to save RDB snapshots",
      "READONLY You can't write against a read only replica.", "ERR max number of clients reached" }) do
      assert.is_false(redis.permanent(e), e)
    end
  end)
end)

if not (servers.have("redis-server") and servers.have("redis-cli")) then
  describe("redis streams", function()
    pending("redis-server is not installed (Debian package redis-server, in dev/packages.txt): skipped")
  end)
  return
end

describe("redis streams", function()
  local dir, port, gl
  local function cli(args)
    local p = assert(io.popen(("redis-cli -h 127.0.0.1 -p %d --raw %s 2>&1"):format(port, args)))
    local out = p:read("*a")
    p:close()
    return out
  end

  setup(function()
    dir = servers.tmpdir()
    port = servers.redis(dir)
    assert(servers.wait(function() return cli("PING"):match("PONG") end, 10), "redis-server does not answer")
  end)
  teardown(function()
    servers.kill(dir .. "/redis.pid")
    os.execute("rm -rf " .. dir)
  end)
  after_each(function()
    if gl then gl:close(0.5) end
    gl = nil
    for _, k in ipairs({ "GATELOG_REDIS_PORT", "GATELOG_REDIS_KEY", "GATELOG_REDIS_MAXLEN" }) do servers.unsetenv(k) end
  end)

  local function new(key, maxlen)
    servers.setenv("GATELOG_REDIS_PORT", tostring(port))
    servers.setenv("GATELOG_REDIS_KEY", key)
    if maxlen then servers.setenv("GATELOG_REDIS_MAXLEN", tostring(maxlen)) end
    gl = assert(gatelog.new{ script = S.src .. "/scripts/redis.lua", access_log = false, flush_interval = 60,
      batch_max = 50, queue_max = 1000, log = function() end,
      lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" })
  end

  local function sessions(n)
    local ids = {}
    for i = 1, n do
      local sid = gl:tcp_start(i, i % 3 == 0 and ("[2001:db8::" .. i .. "]:443") or ("203.0.113.9:" .. (1000 + i)), "10.0.0.5:443")
      gl:add_bytes(sid, i, 10 * i)
      gl:tcp_end(sid)
      ids[i] = sid
    end
    assert(gl:flush())
    return ids
  end

  it("XRANGE returns every record, in order, with its fields", function()
    new("access")
    local ids = sessions(120)
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 120 end, 60))
    local entries, cur = {}, nil
    for line in cli("XRANGE access - +"):gmatch("[^\n]+") do
      if line:match("^%d+%-%d+$") then
        cur = {}
        entries[#entries + 1] = cur
      else
        cur[#cur + 1] = line
      end
    end
    assert.equal(120, #entries)
    for i, e in ipairs(entries) do
      local f = {}
      for k = 1, #e, 2 do f[e[k]] = e[k + 1] end
      assert.equal("sessionId", e[1])
      assert.equal(ids[i], f.sessionId)
      assert.equal(tostring(i), f.resourceId)
      assert.equal(tostring(10 * i), f.bytesRx)
      assert.equal("closed", f.endReason)
      assert.matches("^%x+:" .. ids[i] .. "$", f.recordId) -- the dedupe key
      if i % 3 == 0 then assert.equal("[2001:db8::" .. i .. "]:443", f.sourceAddr) end
    end
  end)

  it("MAXLEN ~ keeps the stream trimmed", function()
    new("trimmed", 10)
    sessions(400)
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 400 end, 60))
    local len = tonumber(cli("XLEN trimmed"))
    assert.is_true(len >= 10 and len < 400, "XLEN " .. tostring(len))
  end)

  it("an error reply no retry can fix (WRONGTYPE) drops the batch and counts it", function()
    assert.matches("OK", cli("SET notastream x"))
    new("notastream")
    sessions(5)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_rejected == 1 end, 20))
    assert.equal(5, gl:stats().records_rejected)
  end)
end)
