-- The CLI tests' policy: drops DNS, marks each record with its endReason,
-- and small batches so that a short replay makes several.
return {
  config = { batch_max = 2, udp_idle_timeout = 30 },
  filter = function(s) return s.destPort ~= 53 end,
  enrich = function(s) s.reason = s.endReason end,
  send = function(batch, done) error("replay and check never call send") end,
}
