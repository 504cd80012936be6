-- Sends batches to the host sender "capture" with b.records (the records
-- as Lua tables, endReason included) instead of the payload.
local core = require "gatelog.core"
local cjson = require "cjson"

return {
  enrich = function(s)
    s.v_final = s.final
    s.v_seq = s.seq
    s.v_reason = s.endReason
    s.v_deltaTx = s.deltaTx
    s.v_endedAt = s.endedAt
  end,
  send = function(b, done)
    core.senders.capture(cjson.encode({ records = b.records, json = b.json, count = b.count,
      id = b.id, attempt = b.attempt }), function(ok, err) done(ok, err) end)
  end,
}
