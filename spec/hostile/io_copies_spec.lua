-- The primitives copy what a script hands them (data to append, to
-- compress, to send) out of the Lua heap until the operation ends. A
-- script queueing such work faster than it drains held unbounded memory
-- outside script_memory_max; the copies in flight are capped by it.
local H = require "hostile.harness"

describe("copies held by I/O in flight", function()
  it("stop at script_memory_max, and the primitives work again once they drain", function()
    local path = H.script(([[
local core = require "gatelog.core"
local big = ("x"):rep(4e6)
local send = policy.send
local tried = false
policy.send = function(b, done)
  if not tried then
    tried = true
    local refused, answered = 0, 0
    for i = 1, 50 do -- 200 MB if nothing stopped it
      local ok = pcall(core.zlib, big, function() answered = answered + 1 end)
      if not ok then refused = refused + 1 end
      ok = pcall(core.file_append, %q, big, function() answered = answered + 1 end)
      if not ok then refused = refused + 1 end
    end
    print("refused " .. refused)
    core.timer(0.5, function()
      core.file_append(%q, "after\n", function(ok) print("later append " .. tostring(ok)) end)
    end)
  end
  return send(b, done)
end
]]):format(H.dir .. "/copies.out", H.dir .. "/copies.out"))
    local records, _, logs = H.run(path, { script_memory_max = 24e6, script_budget = 1,
      settle = function(logs) return #H.lines(logs, "later append true") == 1 end })
    assert.equal(3, #records)
    local refused = tonumber(H.lines(logs, "refused")[1]:match("refused (%d+)"))
    -- 24 MB of copies at most: a zlib holds 8 MB (input and output), an append 4 MB.
    assert.is_true(refused >= 90, "refused " .. refused)
  end)
end)
