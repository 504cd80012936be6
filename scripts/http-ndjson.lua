-- gatelog policy: NDJSON (one record a line) POSTed to an HTTP endpoint
-- (Vector's http_server source, Fluent Bit's http input, Logstash's http
-- input, a collector of your own).
--
-- Environment (docs/scripts.md has them all, with the shared ones):
--   GATELOG_URL    the endpoint (default http://127.0.0.1:8080/ingest; taken as is)
--   GATELOG_GZIP   Content-Encoding: gzip (default on)
--   GATELOG_AUTH, GATELOG_CA_FILE, GATELOG_TIMEOUT, GATELOG_HEADERS,
--   GATELOG_FLUSH_INTERVAL (default 2 s), GATELOG_BATCH_MAX (default 500)
-- Answers that can pass (408, 425, 429, 5xx, a redirect, 401, 403, 404)
-- and connection errors are retried (Retry-After honoured); other 4xx drop
-- the batch (batches_rejected) with a log line.
local env = require "gatelog.env"
local http = require "gatelog.transport.http"

local settings = env.http{ url = "http://127.0.0.1:8080/ingest", gzip = true }
settings.codec = "ndjson"
-- The body built in C on gatelog's threads (the Lua codec's bytes): docs/codecs-in-c.md.
settings.codec = require("gatelog.codec.native").new(settings.codec, settings.codec_options)

return {
  config = env.core{ flush_interval = 2, batch_max = 500 },
  send = http.new(settings),
}
