-- A policy that touches most of what a script can reach: config, filter,
-- enrich, every batch field, the core's functions, a timer, compression.
local core = require "gatelog.core"
local cjson = require "cjson"
local n = 0
return {
  config = { batch_max = 2, flush_interval = 0.5, queue_max = 10, on_script_error = "drop" },
  filter = function(s)
    n = n + 1
    return s.destPort ~= 53 or s.protocol == "tcp"
  end,
  enrich = function(s)
    s.site = "edge-" .. n
    s.big = s.bytesTx * 2 ^ 40
    s.ok = s.final
    s.sourceAddr = "[2001:db8::9]:1"
    s.gone = nil
  end,
  send = function(b, done)
    local recs = b.records
    local text = b.json .. b.ndjson .. b.payload .. b.id .. b.attempt .. b.count
    core.log("debug", tostring(#recs) .. cjson.encode(recs[1] or {}))
    core.timer(0, function()
      core.gzip(text, function(z, err)
        core.file_append("batches.ndjson", b.ndjson, function(ok) done(ok ~= nil) end,
          { max_bytes = 100, keep = 2 })
      end, 9)
    end)
  end,
}
