-- gatelog policy: Grafana Loki's push API (/loki/api/v1/push), JSON,
-- gzipped. Streams are labelled job="gatelog", host=<this host> and the
-- record's protocol; the session id goes in structured metadata.
--
-- Settings (the `settings` table below; environment variables override):
--   url     GATELOG_URL     default http://127.0.0.1:3100/loki/api/v1/push
--   auth    GATELOG_AUTH    the Authorization header (default none)
--   tenant  GATELOG_TENANT  X-Scope-OrgID for a multi-tenant Loki (default none)
local core = require "gatelog.core"
local http = require "gatelog.transport.http"

local tenant = os.getenv("GATELOG_TENANT")

local settings = {
  url = os.getenv("GATELOG_URL") or "http://127.0.0.1:3100/loki/api/v1/push",
  auth = os.getenv("GATELOG_AUTH"),
  headers = tenant and { ["X-Scope-OrgID"] = tenant } or nil,
  gzip = true,
  codec = "loki",
  codec_options = { labels = { job = "gatelog", host = core.hostname() } },
}

return {
  send = http.new(settings),
}
