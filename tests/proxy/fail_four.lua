-- A sink that fails the first four batches together, then takes every
-- batch (appended to $GATELOG_OUTPUT). With batch_max = 1 and queue_max = 1,
-- three of those four are dropped for queue_max_records (records waiting
-- again after a failed send); the newest is retried and delivered.
local core = require "gatelog.core"
local output = assert(os.getenv("GATELOG_OUTPUT"), "GATELOG_OUTPUT is not set")
local held, down = {}, true

return {
  config = { batch_max = 1, queue_max = 1, retry_max = 0.05 },
  send = function(batch, done)
    if not down then return core.file_append(output, batch.ndjson, done) end
    held[#held + 1] = done
    if #held == 4 then
      down = false
      for _, d in ipairs(held) do d(false, "sink down") end
    end
  end,
}
