-- A TCP connection that transports keep open between batches: made on
-- first use, dropped when the peer closes it or an error shows, made
-- again on the next use, but not before a backoff (0.5 s doubling to
-- 30 s by default) after a failed connect. While backing off, get fails
-- at once with the last error: the core's own retry backoff brings the
-- batch back later, so no timer here keeps an old script alive.
--
--   local conn = require("gatelog.transport.conn").new{ host = "127.0.0.1", port = 514,
--     tls = nil,                         -- or core.tcp.connect's tls table
--     on_data = function(chunk) end,     -- what the peer sends (optional)
--     on_lost = function(err) end }      -- the connection went (optional)
--   conn:get(function(c, err) ... c:write(...) end)
--   conn:drop()                          -- close it (a write failed)
local core = require "gatelog.core"

local M = {}
M.__index = M

function M.new(o)
  assert(type(o.host) == "string", "host is required")
  assert(type(o.port) == "number", "port is required")
  return setmetatable({ host = o.host, port = o.port, tls = o.tls, timeout = o.timeout or 10,
    backoff_min = o.backoff_min or 0.5, backoff_max = o.backoff_max or 30,
    on_data = o.on_data, on_lost = o.on_lost,
    c = nil, connecting = false, waiters = {}, backoff = 0, next_try = 0, last_err = nil }, M)
end

function M:drop(err)
  local c = self.c
  if not c then return end
  self.c = nil
  c:close()
  if self.on_lost then self.on_lost(err or "closed") end
end

local function settle(self, c, err)
  local waiters = self.waiters
  self.waiters = {}
  for _, w in ipairs(waiters) do w(c, err) end
end

-- cb(conn) with an open connection, or cb(nil, err).
function M:get(cb)
  if self.c then return cb(self.c) end
  if core.now() < self.next_try then
    return cb(nil, (self.last_err or "not connected") .. " (next connect in " ..
      string.format("%.1f", self.next_try - core.now()) .. " s)")
  end
  self.waiters[#self.waiters + 1] = cb
  if self.connecting then return end
  self.connecting = true
  core.tcp.connect(self.host, self.port, function(c, err)
    self.connecting = false
    if not c then
      self.backoff = math.min(math.max(self.backoff * 2, self.backoff_min), self.backoff_max)
      self.next_try = core.now() + self.backoff
      self.last_err = err
      return settle(self, nil, err)
    end
    self.c, self.backoff, self.last_err = c, 0, nil
    -- Reading is how a peer's close shows up between writes.
    c:read(function(chunk, rerr)
      if chunk then
        if self.on_data then self.on_data(chunk) end
        return
      end
      if self.c == c then self:drop(rerr == "EOF" and "ECONNRESET: the peer closed the connection" or rerr) end
    end)
    settle(self, c)
  end, { timeout = self.timeout, tls = self.tls })
end

return M
