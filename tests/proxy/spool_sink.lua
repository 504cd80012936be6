-- The spool tests' policy: one NDJSON line per delivered batch, appended
-- to $GATELOG_OUTPUT: {"batch":id,"run":$TEST_RUN,"recovered":..,
-- "attempt":..,"records":[...]}, so that a test can tell which batch, and
-- which run of the proxy, delivered each record. Each line starts with a
-- newline rather than ending with one: a line torn by kill -9 is closed by
-- the next run's first write instead of swallowing it. While the output's
-- directory is missing, every send fails: the sink is down. With
-- $TEST_ACK_DELAY (seconds), the answer comes that long after the write,
-- as a slow collector's would: a kill meanwhile leaves a batch delivered
-- but not acknowledged.
local core = require "gatelog.core"
local output = assert(os.getenv("GATELOG_OUTPUT"), "GATELOG_OUTPUT is not set")
local run = tonumber(os.getenv("TEST_RUN") or "0")
local delay = tonumber(os.getenv("TEST_ACK_DELAY") or "0")

return {
  config = { flush_interval = 0.2, queue_max = tonumber(os.getenv("TEST_QUEUE_MAX") or "500") },
  send = function(batch, done)
    local line = ('\n{"batch":"%s","run":%d,"recovered":%s,"attempt":%d,"records":%s}')
      :format(batch.id, run, tostring(batch.recovered == true), batch.attempt, batch.json)
    core.file_append(output, line, function(ok, err)
      if delay == 0 or not ok then return done(ok, err) end
      core.timer(delay, function() done(true) end)
    end)
  end,
}
