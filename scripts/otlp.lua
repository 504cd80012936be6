-- gatelog policy: OTLP/HTTP JSON logs to an OpenTelemetry collector (its
-- otlphttp receiver), one logRecord per session record.
--
-- Environment, as the OpenTelemetry specification defines the OTEL_ ones
-- (docs/scripts.md has them all):
--   OTEL_EXPORTER_OTLP_LOGS_ENDPOINT  the logs URL, used as it is
--   OTEL_EXPORTER_OTLP_ENDPOINT       a base URL: /v1/logs is appended
--                                     (default http://localhost:4318)
--   GATELOG_URL                       over both: a base URL gets /v1/logs
--   OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_LOGS_HEADERS
--                                     key=value,... percent-decoded (the
--                                     logs one wins per key)
--   OTEL_SERVICE_NAME                 service.name (over the attribute)
--   OTEL_RESOURCE_ATTRIBUTES          key=value,... percent-decoded
--   OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE  CA file (as GATELOG_CA_FILE)
--   OTEL_EXPORTER_OTLP_[LOGS_]COMPRESSION  gzip (default) or none
--   OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT      milliseconds (default 10000)
--   OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL     http/json only: another is refused
--   GATELOG_AUTH, GATELOG_FLUSH_INTERVAL (default 2 s), GATELOG_BATCH_MAX (default 500)
-- host.name is this host's name. Retries and permanent failures as the
-- http transport classifies them.
local core = require "gatelog.core"
local env = require "gatelog.env"
local http = require "gatelog.transport.http"

-- The logs-specific variable if set, else the generic one.
local function either(suffix)
  local logs = "OTEL_EXPORTER_OTLP_LOGS_" .. suffix
  if env.raw(logs) then return logs end
  return "OTEL_EXPORTER_OTLP_" .. suffix
end

local protocol = either("PROTOCOL")
env.oneof(protocol, "http/json", { "http/json" })

local url
if env.raw("GATELOG_URL") then
  url = env.url("GATELOG_URL", nil, "/v1/logs")
elseif env.raw("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") then
  url = env.url("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
else
  url = env.join(env.url("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"), "/v1/logs")
end

local headers = env.pairs("OTEL_EXPORTER_OTLP_HEADERS", {})
for k, v in pairs(env.pairs("OTEL_EXPORTER_OTLP_LOGS_HEADERS", {})) do headers[k] = v end

local resource = env.pairs("OTEL_RESOURCE_ATTRIBUTES", {})
local service = env.string("OTEL_SERVICE_NAME") or resource["service.name"] or
  env.string("GATELOG_SERVICE", "gatelog")
resource["service.name"] = nil

local settings = {
  url = url,
  auth = env.string("GATELOG_AUTH"),
  headers = headers,
  ca = env.string(either("CERTIFICATE")) or env.string("GATELOG_CA_FILE"),
  gzip = env.oneof(either("COMPRESSION"), "gzip", { "gzip", "none" }) == "gzip",
  timeout = env.integer(either("TIMEOUT"), 10000, 1, 3600000) / 1000,
  codec = "otlp",
  codec_options = { service_name = service, host_name = core.hostname(), resource = resource },
}
-- The body built in C on gatelog's threads (the Lua codec's bytes): docs/codecs-in-c.md.
settings.codec = require("gatelog.codec.native").new(settings.codec, settings.codec_options)

return {
  config = env.core{ flush_interval = 2, batch_max = 500 },
  send = http.new(settings),
}
