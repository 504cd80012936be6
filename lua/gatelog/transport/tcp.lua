-- The tcp transport: each batch's body, as the codec frames it, written
-- to one TCP connection kept open between batches (syslog framed by
-- octet counting, or NDJSON lines). A connection the peer closes or
-- resets is made again, with a backoff after a failed connect; the batch
-- whose write failed is retried by the core.
--
--   local tcp = require "gatelog.transport.tcp"
--   send = tcp.new{ host = "127.0.0.1", port = 6514, codec = "syslog",
--                   codec_options = { hostname = core.hostname() },
--                   tls = { ca_file = "/etc/ssl/relay-ca.pem" } }  -- optional: core.tcp.connect's tls
--
-- done(true) comes when the write completed: TCP has no acknowledgement
-- a sender can see, so a peer that dies right after may lose what its
-- kernel had taken but it had not read. The peer's close is noticed
-- (reading) and the next batch goes over a new connection.
local codecs = require "gatelog.codec"
local Conn = require "gatelog.transport.conn"

local M = {}

function M.new(s)
  local codec = codecs.get(s.codec or "syslog")
  local conn = Conn.new{ host = s.host, port = s.port, tls = s.tls, timeout = s.connect_timeout,
    backoff_min = s.backoff_min, backoff_max = s.backoff_max }
  return function(batch, done)
    local body = codec.encode(batch, s.codec_options)
    conn:get(function(c, err)
      if not c then return done(false, err) end
      c:write(body, function(ok, werr)
        if ok then return done(true) end
        conn:drop(werr)
        done(false, werr)
      end)
    end)
  end, conn
end

return M
