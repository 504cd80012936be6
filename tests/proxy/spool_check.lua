-- Holds what the spool tests' sink received (spool_sink.lua's lines)
-- against what the clients completed (gatelog-peer tcp-loop's lines):
--   luajit spool_check.lua SINK KILLS CLIENTS...
-- KILLS has a line "RUN WALL_NS" per kill -9; each CLIENTS file is named
-- clients.RUN.N and holds "done PORT WALL_NS" lines. A session completed
-- more than 100 ms before the kill of its run (or in a run not killed)
-- must have a record; a record may come more than once only as part of a
-- batch delivered more than once (same batch id), again only by a later
-- run, as recovered. Prints the counts; exits 1 on a failure.
local cjson = require "cjson.safe"
local sink, kills_file = arg[1], arg[2]
local MARGIN = 100e6 -- ns

local kills = {}
for l in io.lines(kills_file) do
  local run, ns = l:match("^(%d+) (%d+)$")
  if run then kills[tonumber(run)] = tonumber(ns) end
end

-- The records, by source port; each with the deliveries of its batch.
local by_port, deliveries, torn, lines = {}, {}, 0, 0
for l in io.lines(sink) do
  if l ~= "" then
    local b = cjson.decode(l)
    if type(b) ~= "table" or type(b.records) ~= "table" then
      torn = torn + 1
    else
      lines = lines + 1
      local d = deliveries[b.batch] or {}
      deliveries[b.batch] = d
      d[#d + 1] = b
      if #d == 1 then
        for _, r in ipairs(b.records) do
          local port = tonumber(r.sourceAddr:match(":(%d+)$"))
          by_port[port] = by_port[port] or {}
          table.insert(by_port[port], { r = r, batch = b.batch })
        end
      end
    end
  end
end

local function wall_ns(t) -- RFC3339Nano UTC
  local y, mo, d, h, mi, s, frac = t:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y, mo = y - 1, mo + 12 end
  local days = 365 * y + math.floor(y / 4) - math.floor(y / 100) + math.floor(y / 400) +
    math.floor((153 * (mo - 3) + 2) / 5) + tonumber(d) - 719469
  local ns = tonumber((frac .. "000000000"):sub(1, 9))
  return ((days * 24 + h) * 60 + mi) * 60 * 1e9 + s * 1e9 + ns
end

local failures, required, found, late = 0, 0, 0, 0
local function fail(...)
  failures = failures + 1
  if failures <= 20 then io.stderr:write("FAIL: ", string.format(...), "\n") end
end

-- Every session completed in time has its record.
for i = 3, #arg do
  local run = tonumber(arg[i]:match("clients%.(%d+)%."))
  local kill = kills[run]
  for l in io.lines(arg[i]) do
    local port, ns = l:match("^done (%d+) (%d+)$")
    if port then
      port, ns = tonumber(port), tonumber(ns)
      if kill and ns > kill - MARGIN then
        late = late + 1
      else
        required = required + 1
        local hit = false
        for _, x in ipairs(by_port[port] or {}) do
          if math.abs(wall_ns(x.r.endedAt) - ns) < 2e9 then hit = true end
        end
        if hit then found = found + 1
        else fail("run %d: the session from port %d, completed %.3f s before the kill, has no record",
                  run, port, kill and (kill - ns) / 1e9 or -1) end
      end
    end
  end
end

-- Records delivered more than once: only as their batch, again, recovered
-- by a later run.
local records, dup_records, dup_batches, counted = 0, 0, 0, {}
for id, d in pairs(deliveries) do
  records = records + #d[1].records
  if #d > 1 then
    dup_batches = dup_batches + 1
    dup_records = dup_records + #d[1].records * (#d - 1)
    for k = 2, #d do
      if not d[k].recovered or d[k].run <= d[k - 1].run then
        fail("batch %s delivered again by run %d (recovered %s) after run %d", id, d[k].run,
             tostring(d[k].recovered), d[k - 1].run)
      end
      if cjson.encode(d[k].records) ~= cjson.encode(d[1].records) then
        fail("batch %s delivered again with other records", id)
      end
    end
  end
end
local seen = {}
for _, d in pairs(deliveries) do
  for _, r in ipairs(d[1].records) do
    if seen[r.sessionId] then fail("session %s in two batches", r.sessionId) end
    seen[r.sessionId] = true
  end
end

print(("completed %d (%d within 100 ms of a kill), with a record %d, lost %d; records %d, " ..
       "batches delivered twice or more %d (%d duplicate records); torn sink lines %d")
      :format(required + late, late, found, required - found, records, dup_batches, dup_records, torn))
os.exit(failures == 0 and 0 or 1)
