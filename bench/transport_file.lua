-- The transports benchmark's baseline (bench/transports.c): each batch's
-- records as NDJSON (the ndjson codec) appended to GATELOG_OUTPUT by the
-- file transport, with scripts/nats.lua's batching.
local env = require "gatelog.env"

return {
  config = env.core{ flush_interval = 1, batch_max = 100 },
  send = require("gatelog.transport.file").new{ path = env.string("GATELOG_OUTPUT"), max_bytes = 2 ^ 40 },
}
