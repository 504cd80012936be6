-- gatelog policy: each record as a message of a NATS JetStream stream, its
-- Nats-Msg-Id the record's dedupe key (<instance_id>-<sessionId>[-<seq>]),
-- so that the stream's duplicate window stores it once however often its
-- batch is sent. The script does not create streams: operators do (see
-- docs/pipelines.md); until one takes the subject, batches wait and retry.
--
-- Environment (docs/scripts.md has them all):
--   GATELOG_NATS_URL          servers, comma-separated (default nats://127.0.0.1:4222)
--   GATELOG_NATS_SUBJECT      default gatelog.access.{resourceId}; {protocol} too
--   GATELOG_NATS_CREDS        a credentials file (JWT and NKey seed)
--   GATELOG_NATS_USER, GATELOG_NATS_PASSWORD, GATELOG_NATS_TOKEN
--   GATELOG_NATS_CA           CA file: TLS, the server verified by it
--   GATELOG_NATS_CERT, GATELOG_NATS_KEY   a client certificate and its key
--   GATELOG_NATS_PER          record (default) or batch: one message per batch
--   GATELOG_NATS_ACK_TIMEOUT  seconds to wait for JetStream's PubAck (default 5)
--   GATELOG_NATS_MAX_INFLIGHT messages waiting for their PubAck at once (default 1024)
--   GATELOG_FLUSH_INTERVAL (default 1 s), GATELOG_BATCH_MAX (default 100: a send
--                           encodes each record apart, in the script's time budget)
local env = require "gatelog.env"

local cert, key = env.string("GATELOG_NATS_CERT"), env.string("GATELOG_NATS_KEY")
if (cert == nil) ~= (key == nil) then
  error("GATELOG_NATS_CERT and GATELOG_NATS_KEY go together (a client certificate and its key)", 0)
end
local ca = env.string("GATELOG_NATS_CA")

local settings = {
  urls = env.list("GATELOG_NATS_URL", { "nats://127.0.0.1:4222" }),
  subject = env.string("GATELOG_NATS_SUBJECT", "gatelog.access.{resourceId}"),
  creds = env.string("GATELOG_NATS_CREDS"),
  user = env.string("GATELOG_NATS_USER"),
  password = env.string("GATELOG_NATS_PASSWORD"),
  token = env.string("GATELOG_NATS_TOKEN"),
  tls = (ca or cert) and { ca = ca, cert = cert, key = key } or nil,
  per = env.oneof("GATELOG_NATS_PER", "record", { "record", "batch" }),
  ack_timeout = env.number("GATELOG_NATS_ACK_TIMEOUT", 5, 0.01, 3600),
  max_inflight = env.integer("GATELOG_NATS_MAX_INFLIGHT", 1024, 1, 1048576),
}

return {
  config = env.core{ flush_interval = 1, batch_max = 100 },
  send = require("gatelog.transport.nats").new(settings),
}
