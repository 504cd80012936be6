-- The proxy tests' policy: every record, with its endReason as "reason"
-- and "policy" = "a" (the reload test rewrites it), appended as NDJSON to
-- $GATELOG_OUTPUT. A short flush interval, and the UDP idle timeout from
-- $TEST_UDP_IDLE (seconds), so that tests need not wait long.
local core = require "gatelog.core"
local output = assert(os.getenv("GATELOG_OUTPUT"), "GATELOG_OUTPUT is not set")

return {
  config = { flush_interval = 0.2, udp_idle_timeout = tonumber(os.getenv("TEST_UDP_IDLE") or "120") },
  enrich = function(s)
    s.reason = s.endReason
    s.policy = "a"
  end,
  send = function(batch, done)
    core.file_append(output, batch.ndjson, done)
  end,
}
