-- gatelog policy: NDJSON (one record a line) POSTed to an HTTP endpoint
-- (Vector's http_server source, Fluent Bit's http input, Logstash's http
-- input, a collector of your own).
--
-- Settings (the `settings` table below; environment variables override):
--   url   GATELOG_URL   the endpoint (default http://127.0.0.1:8080/ingest)
--   auth  GATELOG_AUTH  the Authorization header, e.g. "Bearer abc" (default none)
--   gzip  GATELOG_GZIP  "1" to send Content-Encoding: gzip (default on)
-- 408, 429 and 5xx answers and connection errors are retried (Retry-After
-- honoured); other 4xx drop the batch (batches_rejected) with a log line.
local http = require "gatelog.transport.http"

local settings = {
  url = os.getenv("GATELOG_URL") or "http://127.0.0.1:8080/ingest",
  auth = os.getenv("GATELOG_AUTH"),
  gzip = (os.getenv("GATELOG_GZIP") or "1") == "1",
  codec = "ndjson",
  timeout = 30,
}

return {
  send = http.new(settings),
}
