-- gatelog policy: Grafana Loki's push API (/loki/api/v1/push), JSON,
-- gzipped. Streams are labelled job="gatelog", host=<this host> and the
-- record's protocol; the session id goes in structured metadata.
--
-- Environment (docs/scripts.md has them all, with the shared ones):
--   GATELOG_URL          default http://127.0.0.1:3100; a base URL gets /loki/api/v1/push
--   GATELOG_TENANT       X-Scope-OrgID for a multi-tenant Loki (default none)
--   GATELOG_LOKI_LABELS  more stream labels, key=value,... (default none)
--   GATELOG_GZIP (default on), GATELOG_AUTH, GATELOG_CA_FILE, GATELOG_TIMEOUT,
--   GATELOG_HEADERS, GATELOG_FLUSH_INTERVAL (default 2 s), GATELOG_BATCH_MAX (default 500)
local core = require "gatelog.core"
local env = require "gatelog.env"
local http = require "gatelog.transport.http"

local settings = env.http{ url = "http://127.0.0.1:3100", path = "/loki/api/v1/push", gzip = true }
settings.headers["X-Scope-OrgID"] = env.string("GATELOG_TENANT")
local labels = { job = "gatelog", host = core.hostname() }
for k, v in pairs(env.pairs("GATELOG_LOKI_LABELS", {})) do labels[k] = v end
settings.codec = "loki"
settings.codec_options = { labels = labels }
-- The body built in C on gatelog's threads (the Lua codec's bytes): docs/codecs-in-c.md.
settings.codec = require("gatelog.codec.native").new(settings.codec, settings.codec_options)

return {
  config = env.core{ flush_interval = 2, batch_max = 500 },
  send = http.new(settings),
}
