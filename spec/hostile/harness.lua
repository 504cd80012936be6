-- What every hostile spec checks: a script written to hurt the gateway
-- (loop where no hook runs, escape the budget, block a thread) leaves the
-- process alive, every call into the core returns within the budget plus
-- a margin, records after the hostile one are delivered, and the close
-- completes.
--
-- Times are CPU seconds of the process (os.clock), not wall time: a loaded
-- machine deschedules the process without charging it. SLOW is far above
-- the 10 ms budget (ASan and a busy 2-core machine), and far below what
-- each hostile script takes without the defence it tests (seconds to
-- forever).
local S = require "support"

local M = { BUDGET = 0.01, SLOW = 1.0 }

M.dir = os.tmpname()
os.remove(M.dir)
assert(os.execute("mkdir -p " .. M.dir) == 0)

local n = 0
-- A script in M.dir: capture.lua's policy (a host sender "capture"),
-- changed by body.
function M.script(body, name)
  n = n + 1
  local path = ("%s/%s.lua"):format(M.dir, name or ("hostile" .. n))
  local f = assert(io.open(path, "w"))
  f:write('local policy = require "capture"\n', body, "\nreturn policy\n")
  f:close()
  return path
end

function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- CPU seconds f takes, then what it returned.
function M.cpu(f)
  local t0 = os.clock()
  local r = { f() }
  return os.clock() - t0, unpack(r)
end

local function bounded(what, f, budget)
  local spent = M.cpu(f)
  assert(spent < M.SLOW, ("%s took %.3f s of CPU (budget %g s)"):format(what, spent, budget or M.BUDGET))
end
M.bounded = bounded

-- A core on the script at path (opts as S.new's; script_budget BUDGET).
-- Ends one TCP session per resource (opts.resources, default 1, 7, 2:
-- filter and enrich run then), each bounded; flushes; waits for every
-- record, and until opts.settle(logs) holds if given; closes, bounded.
-- Returns the records, the stats before the close, and the log lines.
function M.run(path, opts)
  opts = opts or {}
  local resources, settle = opts.resources or { 1, 7, 2 }, opts.settle
  opts.resources, opts.settle = nil, nil
  opts.script = path
  opts.script_budget = opts.script_budget or M.BUDGET
  local gl, cap, logs = S.new(opts)
  for _, r in ipairs(resources) do
    bounded("session " .. r, function()
      assert(gl:tcp_end(assert(gl:tcp_start(r, "10.0.0.1:" .. (1000 + r), "10.0.0.2:80"))))
    end, opts.script_budget)
  end
  bounded("flush", function() assert(gl:flush()) end)
  assert(S.run_until(gl, function() return #cap.records >= #resources end, 20),
         ("%d of %d records delivered"):format(#cap.records, #resources))
  if settle then assert(S.run_until(gl, function() return settle(logs) end, 20), "did not settle") end
  local stats = gl:stats()
  bounded("close", function() gl:close(2) end)
  return cap.records, stats, logs, cap
end

-- The log lines that match pattern.
function M.lines(logs, pattern)
  local out = {}
  for _, l in ipairs(logs) do
    if l.msg:find(pattern) then out[#out + 1] = l.msg end
  end
  return out
end

return M
