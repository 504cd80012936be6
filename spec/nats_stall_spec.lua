-- core.nats against a server that stops reading: the loop keeps running
-- (nats.c may write from the thread that publishes for up to its write
-- deadline, 1 s; that thread is not the loop's), and what the stall cost
-- is sent again until every message is acknowledged.
--
-- The server is a stand-in written here, not nats-server (which cannot be
-- told to stop reading): it speaks just enough of the NATS protocol (INFO,
-- CONNECT, PING/PONG, SUB, HPUB) and answers each message on its reply
-- subject the way JetStream does, duplicates by Nats-Msg-Id included. It
-- runs in the test's own loop, between the core's turns.
local gatelog = require "gatelog"
local cjson = require "cjson"
local socket = require "socket"
local S = require "support"
local servers = require "servers"

local MESSAGES, BODY = 200, 64 * 1024 -- 12.5 MiB: far more than nats.c's buffer and the sockets' take
local STALL = 1.5                      -- longer than nats.c's write deadline

local function stand_in()
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local self = { url = "nats://127.0.0.1:" .. port, conns = {}, seen = {}, distinct = 0, accepted = 0,
    stalled_at = nil }
  local info = 'INFO {"server_id":"STANDIN","version":"2.10.0","proto":1,"headers":true,'
    .. '"max_payload":8388608,"host":"127.0.0.1","port":' .. port .. '}\r\n'

  local function send(c, data)
    c.s:settimeout(2)
    c.s:send(data)
    c.s:settimeout(0)
  end

  local function ack(c, reply, hdr)
    local id = hdr:match("Nats%-Msg%-Id:%s*([^\r\n]+)")
    local dup = id and self.seen[id] or false
    if id and not dup then
      self.seen[id] = true
      self.distinct = self.distinct + 1
    end
    local body = cjson.encode{ stream = "S", seq = self.distinct, duplicate = dup or nil }
    send(c, ("MSG %s %s %d\r\n%s\r\n"):format(reply, c.sid or "1", #body, body))
  end

  -- Handle the whole protocol messages at the front of c.buf.
  local function parse(c)
    local buf, pos = c.buf, 1
    while true do
      local eol = buf:find("\r\n", pos, true)
      if not eol then break end
      local line = buf:sub(pos, eol - 1)
      local verb = line:match("^(%u+)")
      if verb == "HPUB" or verb == "PUB" then
        local total = tonumber(line:match("(%d+)%s*$"))
        if #buf < eol + 1 + total + 2 then break end
        local hlen = verb == "HPUB" and tonumber(line:match("(%d+)%s+%d+%s*$")) or 0
        local reply = verb == "HPUB" and line:match("^HPUB %S+ (%S+) %d+ %d+") or line:match("^PUB %S+ (%S+) %d+")
        if reply then ack(c, reply, buf:sub(eol + 2, eol + 1 + hlen)) end
        pos = eol + 2 + total + 2
        if not self.stalled_at then -- the first message: stop reading for a while
          self.stalled_at = gatelog.now()
          break
        end
      else
        if verb == "PING" then send(c, "PONG\r\n") end
        if verb == "SUB" then c.sid = line:match("(%S+)%s*$") end
        pos = eol + 2
      end
    end
    c.buf = buf:sub(pos)
  end

  function self:step()
    while true do
      local s = srv:accept()
      if not s then break end
      s:settimeout(0)
      local c = { s = s, buf = "" }
      self.accepted = self.accepted + 1
      self.conns[#self.conns + 1] = c
      send(c, info)
    end
    if self.stalled_at and gatelog.now() < self.stalled_at + STALL then return end
    for i = #self.conns, 1, -1 do
      local c = self.conns[i]
      for _ = 1, 16 do
        local data, err, partial = c.s:receive(65536)
        data = data or partial
        if data and data ~= "" then
          c.buf = c.buf .. data
          parse(c)
        end
        if err == "closed" then
          c.s:close()
          table.remove(self.conns, i)
          break
        end
        if err then break end
      end
    end
  end

  function self:close()
    for _, c in ipairs(self.conns) do c.s:close() end
    srv:close()
  end
  return self
end

describe("core.nats and a server that stops reading", function()
  local dir, gl, fake
  before_each(function() dir = servers.tmpdir() end)
  after_each(function()
    if gl then gl:close(2) end
    gl = nil
    if fake then fake:close() end
    fake = nil
    os.execute("rm -rf " .. dir)
  end)

  it("never holds the loop, and sends again until every message is acknowledged", function()
    fake = stand_in()
    local path = dir .. "/script.lua"
    local f = assert(io.open(path, "w"))
    f:write(([[
local core = require "gatelog.core"
local cjson = require "cjson"
local function report(t) core.senders.report(cjson.encode(t), function() end) end
local bodies, ids = {}, {}
for i = 1, %d do bodies[i], ids[i] = string.rep("x", %d), "m-" .. i end
local nc, started
local function publish()
  nc:publish("stall.x", bodies, ids, function(ok, err, kind)
    if ok then return report{ what = "acked", st = nc:stats() } end
    report{ what = "failed", err = err, kind = kind }
    core.timer(0.1, publish)
  end)
end
return { send = function(batch, done)
  done(true)
  if started then return end
  started = true
  nc = core.nats.connect{ servers = %q, ack_timeout = 2 }
  publish()
end }
]]):format(MESSAGES, BODY, fake.url))
    f:close()
    local reports = {}
    gl = assert(gatelog.new{ script = path, access_log = false,
      lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua", log = function() end })
    assert(gl:register_sender("report", function(payload, reply)
      reports[#reports + 1] = cjson.decode(payload)
      reply(true)
    end))
    assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
    assert(gl:flush())

    -- The longest turn of the core's loop: each asks for 5 ms at most.
    local longest = 0
    local deadline = gatelog.now() + 60
    local acked
    repeat
      local t0 = gatelog.now()
      gl:run(0.005)
      longest = math.max(longest, gatelog.now() - t0)
      fake:step()
      for _, r in ipairs(reports) do if r.what == "acked" then acked = r end end
    until acked or gatelog.now() > deadline
    assert.truthy(acked, "not acknowledged: " .. cjson.encode(reports))
    assert.truthy(fake.stalled_at, "the stand-in never stopped reading")
    assert.equal(MESSAGES, fake.distinct)
    -- Held by a write, a turn would last until nats.c's 1 s write deadline
    -- at least (before the publishing thread, the loop never came back: the
    -- stand-in runs on it). A turn's own work (200 messages of 64 KiB
    -- copied) took up to 0.55 s under ASan on a loaded machine: the bound
    -- tells a held loop from a slow one, not a fast one from a slow one.
    assert.is_true(longest < 0.9, ("a turn of the loop took %.3f s"):format(longest))
    assert.equal(0, acked.st.inflight)
  end)
end)
