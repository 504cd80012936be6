-- bench/policy.lua without filter and enrich: the baseline for their cost.
local core = require "gatelog.core"

return {
  send = function(b, done)
    core.senders.bench(b.payload, function(ok, err) done(ok, err) end)
  end,
}
