-- Bursts with a healthy sink lose nothing: sessions ended in one loop turn,
-- at default settings, through scripts/default.lua (core.file_append), are
-- each delivered exactly once, counted by sessionId in the file; so are
-- bursts that follow each other, bursts with reloads between them, and UDP
-- flows whose idle timeouts fire together. (Issue 11: queue_max_records
-- used to count batches the sink had never been offered.)
local S = require "support"
local servers = require "servers"

local DEFAULT = S.src .. "/scripts/default.lua"

local dir
setup(function() dir = servers.tmpdir() end)
teardown(function() os.execute("rm -rf " .. dir) end)

local seq = 0
-- A core at default settings writing NDJSON to a file of its own.
local function new_core(opts)
  seq = seq + 1
  local path = dir .. "/records" .. seq .. ".ndjson"
  servers.setenv("GATELOG_OUTPUT", path)
  opts = opts or {}
  opts.script = opts.script or DEFAULT
  local gl, _, logs = S.new(opts)
  return gl, path, logs
end

-- n TCP sessions started, then all ended in one loop turn; their ids.
local function burst(gl, n, ids)
  local sids = {}
  for i = 1, n do sids[i] = assert(gl:tcp_start(1, "10.0.0.1:" .. (1024 + i % 60000), "10.0.0.2:443")) end
  for i = 1, n do
    assert(gl:tcp_end(sids[i]))
    ids[#ids + 1] = sids[i]
  end
end

local function wait_sent(gl, n)
  assert.truthy(S.run_until(gl, function() return gl:stats().records_sent >= n end, 120),
    "records_sent " .. gl:stats().records_sent .. " of " .. n)
  gl:run(0.02)
end

-- Every id in the file exactly once, and nothing else.
local function assert_once(path, ids)
  local count, lines = {}, 0
  for line in io.lines(path) do
    -- sessionId is the first key: a substring is cheaper than a pattern.
    local id = line:sub(1, 14) == '{"sessionId":"' and line:sub(15, 30) or "?"
    count[id] = (count[id] or 0) + 1
    lines = lines + 1
  end
  local missing, twice = 0, 0
  for _, id in ipairs(ids) do
    local c = count[id] or 0
    if c == 0 then missing = missing + 1 elseif c > 1 then twice = twice + 1 end
  end
  assert.same({ lines = #ids, missing = 0, twice = 0 }, { lines = lines, missing = missing, twice = twice })
end

local function assert_nothing_dropped(gl, n)
  local st = gl:stats()
  assert.same({ sent = n, dropped = 0, queued = 0, bytes = 0 },
    { sent = st.records_sent, dropped = st.records_dropped, queued = st.records_queued, bytes = st.bytes_queued })
end

describe("a burst ended in one loop turn, at default settings, with a healthy file sink", function()
  local gl
  after_each(function()
    if gl then gl:close(5) end
    gl = nil
  end)

  for _, n in ipairs({ 1000, 10000, 100000 }) do
    it(("delivers each of %d records exactly once"):format(n), function()
      local path
      gl, path = new_core()
      local ids = {}
      burst(gl, n, ids)
      wait_sent(gl, n)
      assert_nothing_dropped(gl, n)
      assert_once(path, ids)
    end)
  end

  it("delivers bursts that follow each other before the last one is through", function()
    local path
    gl, path = new_core()
    local ids = {}
    for _ = 1, 10 do -- issue 11: 1,000 a turn, then 200 ms of loop
      burst(gl, 1000, ids)
      gl:run(0.2)
    end
    for _ = 1, 50 do -- and 1,000 a turn with 5 ms of loop between
      burst(gl, 1000, ids)
      gl:run(0.005)
    end
    wait_sent(gl, #ids)
    assert_nothing_dropped(gl, #ids)
    assert_once(path, ids)
  end)

  it("loses nothing to reloads between bursts", function()
    local script = dir .. "/versioned.lua"
    local function write(version)
      local f = assert(io.open(script, "w"))
      f:write(([[
local core = require "gatelog.core"
local output = os.getenv("GATELOG_OUTPUT")
return {
  enrich = function(s) s.version = %d end,
  send = function(batch, done) core.file_append(output, batch.ndjson, done) end,
}
]]):format(version))
      f:close()
    end
    write(1)
    local path
    gl, path = new_core({ script = script })
    local ids = {}
    for v = 2, 6 do
      burst(gl, 2000, ids)
      write(v)
      assert(gl:reload())
    end
    burst(gl, 2000, ids)
    wait_sent(gl, #ids)
    assert.equal(5, gl:stats().reloads)
    assert_nothing_dropped(gl, #ids)
    assert_once(path, ids)
    -- Each record went through one script: the one in force when it ended.
    local versions = {}
    for line in io.lines(path) do
      local v = tonumber(line:match('"version":(%d+)'))
      versions[v] = (versions[v] or 0) + 1
    end
    assert.same({ 2000, 2000, 2000, 2000, 2000, 2000 }, versions)
  end)

  it("loses nothing when 2,000 UDP flows idle out together", function()
    local path
    gl, path = new_core({ udp_idle_timeout = 0.05 })
    local ids = {}
    for i = 1, 2000 do
      ids[i] = assert(gl:udp_track(9, "10.0.1." .. (i % 250 + 1) .. ":" .. (2000 + i), "10.0.0.53:53"))
    end
    assert.truthy(S.run_until(gl, function() return gl:stats().ended_idle == 2000 end, 30))
    wait_sent(gl, 2000)
    assert_nothing_dropped(gl, 2000)
    assert_once(path, ids)
  end)
end)
