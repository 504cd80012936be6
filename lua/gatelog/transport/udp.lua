-- The udp transport: one datagram per record (syslog over UDP, RFC 5426),
-- all of a batch's sent in one call. The codec gives the messages:
-- codec.messages(batch, opts) (syslog and ndjson have it).
--
--   local udp = require "gatelog.transport.udp"
--   send = udp.new{ host = "127.0.0.1", port = 514, codec = "syslog" }
--
-- UDP says nothing about delivery: done(true) means sent. A message
-- longer than max_datagram (default 8192 bytes) is cut there.
local core = require "gatelog.core"
local codecs = require "gatelog.codec"

local M = {}

function M.new(s)
  assert(type(s.host) == "string", "udp transport: host is required")
  assert(type(s.port) == "number", "udp transport: port is required")
  local codec = codecs.get(s.codec or "syslog")
  assert(codec.messages, "udp transport: codec " .. tostring(codec.name) .. " has no messages()")
  local max = s.max_datagram or 8192
  return function(batch, done)
    local msgs = codec.messages(batch, s.codec_options)
    for i = 1, #msgs do
      if #msgs[i] > max then msgs[i] = msgs[i]:sub(1, max) end
    end
    core.udp.send(s.host, s.port, msgs, function(ok, err) done(ok, err) end)
  end
end

return M
