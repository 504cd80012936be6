-- gatelog's default policy: keep every record and append each batch to a
-- file as NDJSON (one JSON record a line), or to standard output.
--
-- Where: the environment variable GATELOG_OUTPUT names the file; unset or
-- "-" means standard output. Appends go through the core's asynchronous
-- file_append, on the libuv thread pool; a failed append (a full disk, a
-- missing directory) is retried with backoff and never leaves half a
-- batch in the file.
local core = require "gatelog.core"

local output = os.getenv("GATELOG_OUTPUT") or "-"
if output == "" then output = "-" end

return {
  send = function(batch, done)
    core.file_append(output, batch.ndjson, done)
  end,
}
