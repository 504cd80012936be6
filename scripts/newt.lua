-- gatelog policy: the reference's payload (base64(zlib(JSON array)), the
-- newt codec) to a sender the host registered, as newt's SetSendFunc did.
--
-- Environment (docs/scripts.md has them all):
--   GATELOG_SENDER          the name the host registered with
--                           gatelog_register_sender (default "control")
--   GATELOG_FLUSH_INTERVAL  default 5 s; GATELOG_BATCH_MAX default 100
-- The host answers each send with gatelog_send_done; a failure is retried
-- with backoff. config.senders names the sender, so a host that has none
-- by that name (gatelog-proxy without --sender) refuses the script at start.
local core = require "gatelog.core"
local env = require "gatelog.env"
local newt = require "gatelog.codec.newt"

local sender = env.string("GATELOG_SENDER", "control")
local config = env.core{ flush_interval = 5, batch_max = 100 }

return {
  config = config,
  senders = { sender },
  send = function(batch, done)
    local send = core.senders[sender]
    if not send then return done(false, "no host sender named '" .. sender .. "'") end
    send(newt.encode(batch), function(ok, err) done(ok, err) end)
  end,
}
