-- The newt codec: the reference's wire format, base64(zlib(JSON array)),
-- which the core already built for every batch on the thread pool. It
-- needs the batch itself (its payload), not decoded records: the exact
-- bytes (key order, Go's escaping, the zlib stream) come from the core.
--
--   local newt = require "gatelog.codec.newt"
--   core.senders.control(newt.encode(batch), cb)   -- == batch.payload
local record = require "gatelog.record"

local M = { name = "newt", content_type = "text/plain" }

function M.encode(x, opts)
  local _ = opts -- no options
  if record.is_batch(x) then return x.payload end
  error("the newt codec is the core's own payload: give it the batch, not its records", 2)
end

return M
