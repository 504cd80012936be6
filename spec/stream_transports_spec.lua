-- The tcp transport against a sink that drops the connection mid-stream,
-- and the file transport rotating at a small size.
local cjson = require "cjson"
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

local LUA_PATH = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua"

-- The sessionIds of a stream of octet-counted syslog frames.
local function frame_ids(data)
  local ids, pos = {}, 1
  while pos <= #data do
    local len, rest = data:match("^(%d+) ()", pos)
    assert(len, "not a frame at byte " .. pos)
    local msg = data:sub(rest, rest + tonumber(len) - 1)
    assert(#msg == tonumber(len), "a frame was cut")
    ids[#ids + 1] = msg:match('sessionId="(%x+)"')
    pos = rest + tonumber(len)
  end
  return ids
end

describe("tcp transport", function()
  local gl, sink
  after_each(function()
    if gl then gl:close(0.5) end
    gl = nil
    sink:close()
    servers.unsetenv("GATELOG_SYSLOG_PORT")
  end)

  it("reconnects after the peer drops the connection, and loses nothing acknowledged", function()
    sink = servers.tcp_sink()
    servers.setenv("GATELOG_SYSLOG_PORT", tostring(sink.port))
    local logs = {}
    gl = assert(gatelog.new{ script = S.src .. "/scripts/syslog.lua", access_log = false, flush_interval = 60,
      batch_max = 5, lua_path = LUA_PATH, log = function(l, m) logs[#logs + 1] = m end })
    local sent = {}
    local function burst(n)
      for _ = 1, n do
        local sid = gl:tcp_start(1, "203.0.113.1:40000", "10.0.0.5:443")
        gl:tcp_end(sid)
        sent[#sent + 1] = sid
      end
      assert(gl:flush())
    end
    burst(12)
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 12 end))
    assert.equal(1, sink.accepted)
    -- The peer goes away mid-stream; the transport notices (its read sees
    -- the end) and the next batches go over a new connection.
    sink:drop()
    servers.run_until(gl, { sink }, function() return false end, 0.3)
    burst(13)
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 25 end))
    assert.equal(2, sink.accepted)
    sink:drop()
    servers.run_until(gl, { sink }, function() return false end, 0.3)
    burst(5)
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 30 end))
    sink:step()
    assert.equal(3, sink.accepted)
    -- Everything acknowledged is at the sink, once each, in order.
    assert.same(sent, frame_ids(sink.data))
  end)

  it("a write to a peer that reset the connection fails the batch, which goes again", function()
    sink = servers.tcp_sink()
    servers.setenv("GATELOG_SYSLOG_PORT", tostring(sink.port))
    gl = assert(gatelog.new{ script = S.src .. "/scripts/syslog.lua", access_log = false, flush_interval = 60,
      batch_max = 100, lua_path = LUA_PATH, log = function() end })
    gl:tcp_end(gl:tcp_start(1, "203.0.113.1:40000", "10.0.0.5:443"))
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 1 end))
    sink:drop()
    -- Not waiting for the transport to notice: whichever comes first, the
    -- end of reading or a failed write, the record arrives in the end.
    gl:tcp_end(gl:tcp_start(2, "203.0.113.1:40001", "10.0.0.5:443"))
    assert(gl:flush())
    assert.truthy(servers.run_until(gl, { sink }, function() return gl:stats().records_sent == 2 end, 20))
    servers.run_until(gl, { sink }, function() return #frame_ids(sink.data) >= 2 end, 5)
    assert.is_true(#frame_ids(sink.data) >= 2)
  end)
end)

describe("tcp transport backoff", function()
  it("after a failed connect, waits before connecting again (failing fast meanwhile)", function()
    local port = servers.free_port() -- nothing listens there
    servers.setenv("GATELOG_SYSLOG_PORT", tostring(port))
    local logs = {}
    -- Debug: repeated failure lines are rate-limited at their own level.
    local gl = assert(gatelog.new{ script = S.src .. "/scripts/syslog.lua", access_log = false, flush_interval = 60,
      lua_path = LUA_PATH, log_level = "debug", log = function(l, m) logs[#logs + 1] = m end })
    servers.unsetenv("GATELOG_SYSLOG_PORT")
    gl:tcp_end(gl:tcp_start(1, "203.0.113.1:40000", "10.0.0.5:443"))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed == 1 end))
    assert(gl:flush()) -- retry at once: inside the transport's backoff
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_failed == 2 end))
    local refused, waited = false, false
    for _, m in ipairs(logs) do
      refused = refused or m:find("ECONNREFUSED", 1, true) ~= nil
      waited = waited or m:find("next connect in", 1, true) ~= nil
    end
    assert.is_true(refused)
    assert.is_true(waited)
    gl:close(0)
  end)
end)

describe("file transport", function()
  local dir, gl
  before_each(function() dir = servers.tmpdir() end)
  after_each(function()
    if gl then gl:close(0.5) end
    gl = nil
    os.execute("rm -rf " .. dir)
  end)

  it("rotates at max_bytes, keeps `keep` files, never splits a batch", function()
    local path = dir .. "/access.ndjson"
    local script = dir .. "/file.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local file = require "gatelog.transport.file"
return { send = file.new{ path = %q, max_bytes = 1500, keep = 2 } }
]]):format(path))
    f:close()
    gl = assert(gatelog.new{ script = script, access_log = false, flush_interval = 60, batch_max = 2,
      lua_path = LUA_PATH })
    local ids = {}
    for i = 1, 40 do
      local sid = gl:tcp_start(i, "203.0.113.1:" .. (40000 + i), "10.0.0.5:443")
      gl:tcp_end(sid)
      ids[i] = sid
    end
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 40 end, 10))
    assert.is_nil(servers.read(path .. ".3"))
    local kept = {}
    for _, name in ipairs({ path .. ".2", path .. ".1", path }) do
      local text = assert(servers.read(name), name .. " is missing")
      assert.is_true(#text <= 1500, name .. " has " .. #text .. " bytes")
      local n = 0
      for line in text:gmatch("([^\n]*)\n") do
        n = n + 1
        kept[#kept + 1] = cjson.decode(line).sessionId
      end
      assert.equal(0, n % 2, "a batch was split in " .. name)
    end
    -- The newest records, in order, with nothing missing between them.
    local first = #ids - #kept + 1
    assert.is_true(#kept >= 6)
    for i, sid in ipairs(kept) do assert.equal(ids[first + i - 1], sid) end
  end)
end)
