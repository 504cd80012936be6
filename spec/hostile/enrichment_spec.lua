-- What enrich sets is copied into C, outside the Lua heap: a record's
-- fields are capped (enrich_max_bytes) and counted with the heap against
-- script_memory_max; setting one field again and again takes no memory.
-- Field names must be valid UTF-8 (JSON would write two different invalid
-- names as the same key).
local H = require "hostile.harness"

describe("enrichment", function()
  it("is capped per record, and a field set a million times costs nothing", function()
    local path = H.script [[
local big = ("x"):rep(24 * 2^20)
local mid = ("y"):rep(1000)
policy.enrich = function(s)
  if s.resourceId == 7 then for i = 1, 1e6 do s.big = big end end
  if s.resourceId == 8 then
    for i = 1, 200 do s["k" .. i] = mid end -- 200 KB of fields: past the cap
  end
  if s.resourceId == 9 then for i = 1, 2e4 do s.again = mid end end
  s.ok = true
end
]]
    -- Not a test of time: a million sets may take seconds of CPU under ASan
    -- on a loaded machine; only the budgets of memory are under test here.
    local records, st, logs = H.run(path, { resources = { 1, 7, 8, 9, 2 }, script_budget = 10 })
    assert.equal(5, #records)
    assert.equal(2, st.enrich_errors)
    assert.equal(0, st.memory_exceeded)
    assert.is_nil(records[2].big)
    assert.is_nil(records[3].k1) -- a failed enrich adds nothing
    assert.equal(1000, #records[4].again)
    assert.is_true(records[5].ok)
    -- One line: error lines are rate-limited per function.
    assert.equal(1, #H.lines(logs, "more than enrich_max_bytes %(65536%)"))
  end)

  it("counts against script_memory_max with the Lua heap", function()
    local path = H.script [[
policy.enrich = function(s)
  if s.resourceId == 7 then
    local v = ("z"):rep(3e6)
    s.a = v
    s.b = v
  end
end
]]
    -- Not a test of time: 3 MB copies may take more than 10 ms on a loaded machine.
    local _, st = H.run(path, { enrich_max_bytes = 2^30, script_memory_max = 8e6, script_budget = 1 })
    assert.equal(1, st.memory_exceeded)
    assert.equal(1, st.enrich_errors)
  end)

  it("refuses field names that are not valid UTF-8", function()
    local path = H.script [[
policy.enrich = function(s)
  s["caf\195\169"] = 1
  s.first = pcall(function() s["\255"] = 1 end)
  s.second = pcall(function() s["\254"] = 2 end)
  s.values = "\255 is written as U+FFFD"
end
]]
    local records = H.run(path)
    assert.equal(1, records[1]["caf\195\169"])
    assert.is_false(records[1].first)
    assert.is_false(records[1].second)
    assert.equal("\239\191\189 is written as U+FFFD", records[1].values)
  end)
end)
