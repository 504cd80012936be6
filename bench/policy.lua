-- The benchmark's policy: the default codec's payload to the host sender
-- "bench", with a filter and an enrich of the kind operators write.
local core = require "gatelog.core"

return {
  filter = function(s) return s.destPort ~= 9 end,
  enrich = function(s)
    s.site = "edge-1"
    s.bulk = s.bytesRx > 1000000
  end,
  send = function(b, done)
    core.senders.bench(b.payload, function(ok, err) done(ok, err) end)
  end,
}
