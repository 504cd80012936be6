-- gatelog policy: the reference's payload (base64(zlib(JSON array)), the
-- newt codec) to a sender the host registered, as newt's SetSendFunc did.
--
-- Settings (the `settings` table below; environment variables override):
--   sender  GATELOG_SENDER  name the host registered with
--                           gatelog_register_sender (default "control")
-- The host answers each send with gatelog_send_done; a failure is retried
-- with backoff.
local core = require "gatelog.core"
local newt = require "gatelog.codec.newt"

local settings = {
  sender = os.getenv("GATELOG_SENDER") or "control",
}

return {
  send = function(batch, done)
    local sender = core.senders[settings.sender]
    if not sender then return done(false, "no host sender named '" .. settings.sender .. "'") end
    sender(newt.encode(batch), function(ok, err) done(ok, err) end)
  end,
}
