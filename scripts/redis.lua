-- gatelog policy: each record as an entry of a Redis stream (XADD, the
-- record's keys as fields, and recordId, its dedupe key), trimmed to about
-- maxlen entries. A batch sent again (a retry, a restart after a crash)
-- adds its entries again: consumers skip a recordId they have seen.
--
-- Environment (docs/scripts.md has them all, with the TLS ones):
--   GATELOG_REDIS_URL       redis://[:password@]host[:port][/db], or rediss:// for
--                           TLS (default port 6379 either way); the variables
--                           below override its parts
--   GATELOG_REDIS_HOST      default 127.0.0.1
--   GATELOG_REDIS_PORT      default 6379
--   GATELOG_REDIS_KEY       the stream (default "gatelog")
--   GATELOG_REDIS_MAXLEN    XADD MAXLEN ~ n (default 1000000; 0: no trim)
--   GATELOG_REDIS_PASSWORD  AUTH (default none)
--   GATELOG_REDIS_DB        SELECT (default none)
--   GATELOG_TLS_*           with rediss:// (CA file or directory, server name,
--                           client certificate and key, verify, minimum version)
--   GATELOG_FLUSH_INTERVAL (default 1 s), GATELOG_BATCH_MAX (default 500)
local env = require "gatelog.env"

local url = { host = "127.0.0.1", port = 6379 }
local raw = env.raw("GATELOG_REDIS_URL")
if raw then
  local scheme, rest = raw:match("^(rediss?)://(.*)$")
  local auth, host, port, db = (rest or ""):match("^([^@/]*@)"), nil, nil, nil
  if rest then host, port, db = rest:sub(auth and #auth + 1 or 1):match("^([^:/@]+):?(%d*)/?(%d*)$") end
  auth = auth or ""
  if not host then
    error(("GATELOG_REDIS_URL=%q: not redis://[:password@]host[:port][/db] or rediss://..."):format(raw), 0)
  end
  url.tls = scheme == "rediss"
  url.host = host
  if port ~= "" then
    url.port = tonumber(port)
    if url.port < 1 or url.port > 65535 then
      error(("GATELOG_REDIS_URL=%q: port out of range (1 to 65535)"):format(raw), 0)
    end
  end
  url.db = db ~= "" and tonumber(db) or nil
  local password = auth:match("^[^:]*:(.*)@$") or auth:match("^(.+)@$")
  url.password = password and env.percent_decode(password)
end

local maxlen = env.integer("GATELOG_REDIS_MAXLEN", 1000000, 0, 2 ^ 53)

local settings = {
  host = env.string("GATELOG_REDIS_HOST", url.host),
  port = env.port("GATELOG_REDIS_PORT", url.port),
  key = env.string("GATELOG_REDIS_KEY", "gatelog"),
  maxlen = maxlen ~= 0 and maxlen or nil,
  password = env.string("GATELOG_REDIS_PASSWORD", url.password),
  db = env.integer("GATELOG_REDIS_DB", url.db, 0, 2 ^ 31),
  tls = env.tls(url.tls),
}

return {
  config = env.core{ flush_interval = 1, batch_max = 500 },
  send = require("gatelog.transport.redis").new(settings),
}
