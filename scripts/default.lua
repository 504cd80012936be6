-- gatelog's default policy: keep every record and append each batch to a
-- file as NDJSON (one JSON record a line), or to standard output.
--
-- Environment (docs/scripts.md lists every variable of every script):
--   GATELOG_OUTPUT          the file; unset or "-": standard output
--   GATELOG_FLUSH_INTERVAL  seconds between flushes (default 1)
--   GATELOG_BATCH_MAX       records a batch holds at most (default 500)
-- Appends go through the core's asynchronous file_append, on the libuv
-- thread pool; a failed append (a full disk, a missing directory) is
-- retried with backoff and never leaves half a batch in the file.
local core = require "gatelog.core"
local env = require "gatelog.env"

local output = env.string("GATELOG_OUTPUT", "-")

return {
  config = env.core{ flush_interval = 1, batch_max = 500 },
  send = function(batch, done)
    core.file_append(output, batch.ndjson, done)
  end,
}
