-- Servers the specs start on loopback: an HTTP collector and a TCP sink
-- in this process (LuaSocket, non-blocking, stepped between runs of the
-- core's loop), and helpers to start real daemons (redis-server,
-- rsyslogd) as child processes with a bounded wait for readiness.
local socket = require "socket"
local gatelog = require "gatelog"

local ffi = require "ffi"

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]]

local M = {}

-- The ready scripts read their settings from the environment.
function M.setenv(name, value) ffi.C.setenv(name, value, 1) end
function M.unsetenv(name) ffi.C.unsetenv(name) end

-- Run the core's loop and step the servers until pred() or timeout.
function M.run_until(gl, servers, pred, timeout)
  local deadline = gatelog.now() + (timeout or 10)
  while not pred() do
    if gatelog.now() > deadline then return pred() end
    gl:run(0.005)
    for _, s in ipairs(servers) do s:step() end
  end
  return true
end

-- Read what is there without blocking.
local function read_some(c)
  local data, err, partial = c:receive(65536)
  data = data or partial
  return data ~= "" and data or nil, err
end

-- ---- HTTP collector ---------------------------------------------------------
-- Records every request { method, path, headers (lowercased names), body }
-- and answers with collector.respond(req) -> status, headers, body
-- (default 200); a nil status hangs up without an answer (the client sees
-- a reset). HTTP/1.1 with keep-alive, Content-Length bodies.
function M.http()
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local self = { port = port, url = "http://127.0.0.1:" .. port, requests = {}, clients = {},
    respond = function() return 200, {}, "{}" end }

  local function parse(cl)
    local head_end = cl.buf:find("\r\n\r\n", 1, true)
    if not head_end then return nil end
    local head = cl.buf:sub(1, head_end - 1)
    local method, path = head:match("^(%u+) (%S+) HTTP/1%.1")
    local headers = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    local len = tonumber(headers["content-length"] or "0")
    if #cl.buf < head_end + 3 + len then return nil end
    local body = cl.buf:sub(head_end + 4, head_end + 3 + len)
    cl.buf = cl.buf:sub(head_end + 4 + len)
    return { method = method, path = path, headers = headers, body = body, at = gatelog.now() }
  end

  function self:step()
    while true do
      local c = srv:accept()
      if not c then break end
      c:settimeout(0)
      self.clients[#self.clients + 1] = { sock = c, buf = "" }
    end
    for i = #self.clients, 1, -1 do
      local cl = self.clients[i]
      local data, err = read_some(cl.sock)
      if data then cl.buf = cl.buf .. data end
      while true do
        local req = parse(cl)
        if not req then break end
        self.requests[#self.requests + 1] = req
        local status, headers, body = self.respond(req)
        if status == nil then
          cl.hung_up = true
          break
        end
        body = body or ""
        local out = { ("HTTP/1.1 %d X\r\nContent-Length: %d\r\n"):format(status, #body) }
        for k, v in pairs(headers or {}) do out[#out + 1] = k .. ": " .. v .. "\r\n" end
        out[#out + 1] = "\r\n" .. body
        cl.sock:settimeout(1)
        cl.sock:send(table.concat(out))
        cl.sock:settimeout(0)
      end
      if err == "closed" or cl.hung_up then
        cl.sock:close()
        table.remove(self.clients, i)
      end
    end
  end

  function self:close()
    for _, cl in ipairs(self.clients) do cl.sock:close() end
    srv:close()
  end
  return self
end

-- ---- TCP sink ---------------------------------------------------------------
-- Keeps every byte received, per connection; sink:drop() closes the
-- connections it has (the peer going away mid-stream).
function M.tcp_sink()
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local self = { port = port, conns = {}, accepted = 0, data = "" }
  function self:step()
    while true do
      local c = srv:accept()
      if not c then break end
      c:settimeout(0)
      self.accepted = self.accepted + 1
      self.conns[#self.conns + 1] = c
    end
    for i = #self.conns, 1, -1 do
      local c = self.conns[i]
      local data, err = read_some(c)
      if data then self.data = self.data .. data end
      if err == "closed" then
        c:close()
        table.remove(self.conns, i)
      end
    end
  end
  function self:drop()
    self:step() -- take what has arrived: a drop loses nothing already read
    for _, c in ipairs(self.conns) do c:close() end
    self.conns = {}
  end
  function self:close()
    self:drop()
    srv:close()
  end
  return self
end

-- ---- daemons ----------------------------------------------------------------

-- A port that was free a moment ago (for daemons that cannot report the
-- one they bound).
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

function M.have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0
end

function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir) == 0)
  return dir
end

-- Start `cmd` in the background (its pid written to pidfile by the shell).
function M.spawn(cmd, pidfile, log)
  assert(os.execute(("sh -c '%s >%s 2>&1 & echo $! > %s'"):format(cmd:gsub("'", "'\\''"), log, pidfile)) == 0)
end

function M.kill(pidfile)
  local f = io.open(pidfile)
  if not f then return end
  local pid = tonumber(f:read("*a"))
  f:close()
  if pid then os.execute("kill " .. pid .. " 2>/dev/null; sleep 0.1; kill -9 " .. pid .. " 2>/dev/null") end
end

-- Poll until pred() or timeout seconds.
function M.wait(pred, timeout)
  local deadline = gatelog.now() + (timeout or 10)
  while not pred() do
    if gatelog.now() > deadline then return false end
    socket.sleep(0.02)
  end
  return true
end

-- redis-server on loopback with its data in dir: args (a format with
-- %d for the port, then any more ports it takes from ports()) are added
-- to its command line. Returns the port, and the others; tries new ports
-- when one was taken meanwhile.
function M.redis(dir, args, more_ports)
  for _ = 1, 5 do
    local port, extra = M.free_port(), {}
    for i = 1, more_ports or 0 do extra[i] = M.free_port() end
    M.spawn(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s " .. (args or ""))
      :format(port, dir, unpack(extra)), dir .. "/redis.pid", dir .. "/redis.out")
    if M.wait(function() return (M.read(dir .. "/redis.out") or ""):find("Ready to accept", 1, true) end, 10) then
      return port, unpack(extra)
    end
    M.kill(dir .. "/redis.pid")
  end
  error("redis-server did not start: " .. tostring(M.read(dir .. "/redis.out")))
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

return M
