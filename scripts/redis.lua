-- gatelog policy: each record as an entry of a Redis stream (XADD, the
-- record's keys as fields, and recordId, its dedupe key), trimmed to about
-- maxlen entries. A batch sent again (a retry, a restart after a crash)
-- adds its entries again: consumers skip a recordId they have seen.
--
-- Settings (the `settings` table below; environment variables override):
--   host      GATELOG_REDIS_HOST      default 127.0.0.1
--   port      GATELOG_REDIS_PORT      default 6379
--   key       GATELOG_REDIS_KEY       the stream (default "gatelog")
--   maxlen    GATELOG_REDIS_MAXLEN    XADD MAXLEN ~ n (default 1000000; 0: no trim)
--   password  GATELOG_REDIS_PASSWORD  AUTH (default none)
local maxlen = tonumber(os.getenv("GATELOG_REDIS_MAXLEN") or "1000000")

local settings = {
  host = os.getenv("GATELOG_REDIS_HOST") or "127.0.0.1",
  port = tonumber(os.getenv("GATELOG_REDIS_PORT") or "6379"),
  key = os.getenv("GATELOG_REDIS_KEY") or "gatelog",
  maxlen = maxlen ~= 0 and maxlen or nil,
  password = os.getenv("GATELOG_REDIS_PASSWORD"),
}

return {
  send = require("gatelog.transport.redis").new(settings),
}
