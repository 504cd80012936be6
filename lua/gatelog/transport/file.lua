-- The file transport: each batch appended to a file (NDJSON by default),
-- on the thread pool, rotated by size: before an append that would take
-- the file past max_bytes it becomes path.1 (path.1 becomes path.2, ...,
-- up to keep files; the oldest goes).
--
--   local file = require "gatelog.transport.file"
--   send = file.new{ path = "/var/log/gateway/access.ndjson", max_bytes = 100 * 2^20, keep = 5 }
--
-- A batch is never split across two files. A failed append (a full disk)
-- leaves no half batch and is retried.
local core = require "gatelog.core"
local codecs = require "gatelog.codec"

local M = {}

function M.new(s)
  assert(type(s.path) == "string" and s.path ~= "", "file transport: path is required")
  local codec = codecs.get(s.codec or "ndjson")
  local rotate = { max_bytes = s.max_bytes or 100 * 2 ^ 20, keep = s.keep or 5 }
  return function(batch, done)
    core.file_append(s.path, codec.encode(batch, s.codec_options), done, rotate)
  end
end

return M
