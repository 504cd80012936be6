-- NATS for the specs: nats-server (JetStream on) started on loopback, alone
-- or as a three-node cluster, a blocking client of the NATS text protocol
-- over LuaSocket for the JetStream API (create a stream, count and read
-- its messages; the `nats` CLI is not packaged in Debian 12), and a TCP
-- relay that can swallow the acknowledgements going back to the client.
local socket = require "socket"
local cjson = require "cjson"
local servers = require "servers"
local S = require "support"

local M = {}

-- ---- servers ------------------------------------------------------------------

-- One nats-server: node = { dir, port, name, cluster_port, routes (ports), args }.
-- node:start() waits until it is ready; node:kill9(); node:stop().
local function node_cmd(n)
  local cmd = ("nats-server -js -a 127.0.0.1 -p %d -n %s -sd %s/store %s"):format(n.port, n.name, n.dir, n.args or "")
  if n.config then
    local f = assert(io.open(n.dir .. "/nats.conf", "w"))
    f:write(n.config, "\n")
    f:close()
    cmd = cmd .. " -c " .. n.dir .. "/nats.conf"
  end
  if n.http_port then cmd = cmd .. " -m " .. n.http_port end
  if n.cluster_port then
    local routes = {}
    for i, p in ipairs(n.routes) do routes[i] = "nats://127.0.0.1:" .. p end
    cmd = cmd .. (" --cluster_name gatelog --cluster nats://127.0.0.1:%d --routes %s")
      :format(n.cluster_port, table.concat(routes, ","))
  end
  return cmd
end

local Node = {}
Node.__index = Node

function Node:start(wait)
  os.remove(self.dir .. "/out")
  servers.spawn(node_cmd(self), self.dir .. "/pid", self.dir .. "/out")
  if wait == false then return true end
  return servers.wait(function()
    return (servers.read(self.dir .. "/out") or ""):find("Server is ready", 1, true)
  end, 20)
end

function Node:kill9()
  local pid = tonumber(servers.read(self.dir .. "/pid") or "")
  if pid then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  -- Gone for good before it is started again on the same port.
  servers.wait(function() return os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= 0 end, 10)
end

function Node:stop() servers.kill(self.dir .. "/pid") end

function Node:log() return servers.read(self.dir .. "/out") or "" end

-- How many clients named name are connected to this node (its monitoring
-- port's /connz), or nil when it does not answer.
function Node:clients(name)
  local body = require("socket.http").request(("http://127.0.0.1:%d/connz"):format(self.http_port))
  if not body then return nil end
  local n = 0
  for _, c in ipairs(cjson.decode(body).connections or {}) do
    if c.name == name then n = n + 1 end
  end
  return n
end

function M.node(n)
  n.dir = n.dir or servers.tmpdir()
  n.url = "nats://127.0.0.1:" .. n.port
  return setmetatable(n, Node)
end

-- A single JetStream server; args are added to its command line, config
-- (text) is its configuration file.
function M.server(args, config)
  for _ = 1, 5 do
    local n = M.node{ port = servers.free_port(), name = "solo", args = args, config = config }
    if n:start() then return n end
    n:stop()
  end
  error("nats-server did not start")
end

-- Three JetStream servers routed to each other, started together (a
-- cluster forms once a quorum is up).
function M.cluster()
  local ports, cports, hports = {}, {}, {}
  for i = 1, 3 do ports[i], cports[i], hports[i] = servers.free_port(), servers.free_port(), servers.free_port() end
  local nodes = {}
  for i = 1, 3 do
    local routes = {}
    for j = 1, 3 do if j ~= i then routes[#routes + 1] = cports[j] end end
    nodes[i] = M.node{ port = ports[i], name = "n" .. i, cluster_port = cports[i], routes = routes,
      http_port = hports[i] }
    nodes[i]:start(false)
  end
  for i = 1, 3 do
    assert(servers.wait(function() return nodes[i]:log():find("Server is ready", 1, true) end, 20),
      "nats-server n" .. i .. " did not start: " .. nodes[i]:log())
  end
  return nodes
end

-- ---- a blocking client ----------------------------------------------------------

local Client = {}
Client.__index = Client

-- Connect to port (as user, with password, if given); nil and the error
-- if it does not answer.
function M.client(port, user, password)
  local s = socket.tcp()
  s:settimeout(5)
  local ok, err = s:connect("127.0.0.1", port)
  if not ok then return nil, err end
  local info = s:receive("*l")
  if not info then return nil, "no INFO" end
  local connect = { verbose = false, pedantic = false, headers = true, no_responders = true, protocol = 1,
    user = user, pass = password }
  s:send("CONNECT " .. cjson.encode(connect) .. "\r\n")
  s:send("SUB _R.* 1\r\n")
  return setmetatable({ s = s, n = 0 }, Client)
end

function Client:close() self.s:close() end

-- Read protocol lines until a MSG/HMSG arrives for sid 1; its payload
-- (headers included for HMSG) or nil on timeout.
function Client:next_msg(timeout)
  self.s:settimeout(timeout or 5)
  while true do
    local line, err = self.s:receive("*l")
    if not line then return nil, err end
    if line == "PING" then
      self.s:send("PONG\r\n")
    elseif line:find("^HMSG ") then
      local total = tonumber(line:match("(%d+)%s*$"))
      local hlen = tonumber(line:match("(%d+)%s+%d+%s*$"))
      local body = self.s:receive(total + 2)
      return body:sub(hlen + 1, total), body:sub(1, hlen)
    elseif line:find("^MSG ") then
      local len = tonumber(line:match("(%d+)%s*$"))
      local body = self.s:receive(len + 2)
      return body:sub(1, len)
    elseif line:find("^%-ERR") then
      return nil, line
    end
  end
end

-- A request: its reply payload decoded as JSON (nil, err on timeout).
function Client:request(subject, payload, timeout)
  self.n = self.n + 1
  local inbox = "_R." .. self.n
  payload = payload or ""
  self.s:send(("PUB %s %s %d\r\n%s\r\n"):format(subject, inbox, #payload, payload))
  local data, hdr = self:next_msg(timeout)
  if not data then return nil, hdr end
  if hdr and hdr:find("503", 1, true) then return nil, "no responders" end
  return cjson.decode(data)
end

-- Retry a JetStream API request until it answers without an error (a
-- cluster elects its meta leader after it starts).
function Client:api(subject, payload, timeout)
  local deadline = socket.gettime() + (timeout or 30)
  local last
  repeat
    local r, err = self:request(subject, payload, 2)
    if r and not r.error then return r end
    last = r and cjson.encode(r.error) or err
    socket.sleep(0.2)
  until socket.gettime() > deadline
  error(subject .. ": " .. tostring(last))
end

-- Create stream name over subjects with a duplicate window (seconds).
function Client:create_stream(name, subjects, opts)
  opts = opts or {}
  local cfg = { name = name, subjects = subjects, storage = "file", num_replicas = opts.replicas or 1,
    duplicate_window = math.floor((opts.duplicate_window or 120) * 1e9), retention = "limits",
    discard = "old" }
  return self:api("$JS.API.STREAM.CREATE." .. name, cjson.encode(cfg), opts.timeout)
end

function Client:stream_info(name)
  return self:api("$JS.API.STREAM.INFO." .. name)
end

-- Every message of the stream: { subject, data, headers = { name = value } }.
function Client:messages(name)
  local info = self:stream_info(name)
  local out = {}
  if info.state.messages == 0 then return out end
  for seq = info.state.first_seq, info.state.last_seq do
    local r = self:api("$JS.API.STREAM.MSG.GET." .. name, cjson.encode{ seq = seq })
    local m = r.message
    local headers = {}
    for k, v in S.b64decode(m.hdrs or ""):gmatch("([^:\r\n]+):%s*([^\r\n]*)") do headers[k] = v end
    out[#out + 1] = { subject = m.subject, data = S.b64decode(m.data or ""), headers = headers, seq = m.seq }
  end
  return out
end

-- ---- a relay that can swallow acknowledgements -----------------------------------

-- Listens on a port of its own and relays every connection to port.
-- While relay.swallow is true, messages from the server to the client on
-- its reply inboxes (_INBOX.*: JetStream's acknowledgements) are dropped:
-- the server stored the message, the client never hears of it.
-- relay:step() moves what is there (call it while the core's loop runs).
function M.relay(port)
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, lport = srv:getsockname()
  local self = { port = lport, url = "nats://127.0.0.1:" .. lport, pairs = {}, swallowed = 0, swallow = false }

  local function read(c)
    local data, err, partial = c:receive(65536)
    data = data or partial
    return data ~= "" and data or nil, err
  end

  -- Take whole protocol messages off buf; those to keep, and the rest.
  local function filter(buf)
    local keep, pos = {}, 1
    while true do
      local eol = buf:find("\r\n", pos, true)
      if not eol then break end
      local line = buf:sub(pos, eol - 1)
      local total = 0
      if line:find("^H?MSG ") then total = tonumber(line:match("(%d+)%s*$")) + 2 end
      if #buf < eol + 1 + total then break end
      local msg = buf:sub(pos, eol + 1 + total)
      if self.swallow and line:find("^H?MSG _INBOX%.") then
        self.swallowed = self.swallowed + 1
      else
        keep[#keep + 1] = msg
      end
      pos = eol + 2 + total
    end
    return table.concat(keep), buf:sub(pos)
  end

  local function send_all(c, data)
    c:settimeout(1)
    c:send(data)
    c:settimeout(0)
  end

  function self:step()
    while true do
      local c = srv:accept()
      if not c then break end
      local up = socket.tcp()
      up:settimeout(2)
      if up:connect("127.0.0.1", port) then
        c:settimeout(0)
        up:settimeout(0)
        self.pairs[#self.pairs + 1] = { c = c, up = up, buf = "" }
      else
        c:close()
      end
    end
    for i = #self.pairs, 1, -1 do
      local p = self.pairs[i]
      local d1, e1 = read(p.c)
      if d1 then send_all(p.up, d1) end
      local d2, e2 = read(p.up)
      if d2 then
        local out
        out, p.buf = filter(p.buf .. d2)
        if out ~= "" then send_all(p.c, out) end
      end
      if e1 == "closed" or e2 == "closed" then
        p.c:close()
        p.up:close()
        table.remove(self.pairs, i)
      end
    end
  end

  function self:close()
    for _, p in ipairs(self.pairs) do
      p.c:close()
      p.up:close()
    end
    srv:close()
  end
  return self
end

return M
