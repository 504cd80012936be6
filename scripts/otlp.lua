-- gatelog policy: OTLP/HTTP JSON logs to an OpenTelemetry collector (its
-- otlphttp receiver, /v1/logs), one logRecord per session record.
--
-- Settings (the `settings` table below; environment variables override):
--   url      GATELOG_URL      default http://127.0.0.1:4318/v1/logs
--   auth     GATELOG_AUTH     the Authorization header (default none)
--   service  GATELOG_SERVICE  resource service.name (default "gatelog")
-- Bodies are gzipped; host.name is this host's name. Retries and
-- permanent failures as the http transport classifies them.
local core = require "gatelog.core"
local http = require "gatelog.transport.http"

local settings = {
  url = os.getenv("GATELOG_URL") or "http://127.0.0.1:4318/v1/logs",
  auth = os.getenv("GATELOG_AUTH"),
  gzip = true,
  codec = "otlp",
  codec_options = {
    service_name = os.getenv("GATELOG_SERVICE") or "gatelog",
    host_name = core.hostname(),
  },
}

return {
  send = http.new(settings),
}
