-- The disk spool: every sealed batch written before it is sent, done marks,
-- segments deleted once done, batches left by one core sent first by the
-- next (through the script in force then), damage skipped and counted, the
-- lock, memory and disk caps.
local S = require "support"
local gatelog = require "gatelog"

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/gatelog-spool-spec.XXXXXX")
  local d = p:read("*l")
  p:close()
  return d
end

local function ls(dir)
  local out = {}
  local p = io.popen("ls -1 " .. dir .. " 2>/dev/null")
  for name in p:lines() do out[#out + 1] = name end
  p:close()
  return out
end

local function segments(dir)
  local out = {}
  for _, n in ipairs(ls(dir)) do
    if n:match("^seg%-%x+%.gls$") then out[#out + 1] = dir .. "/" .. n end
  end
  return out
end

-- The offsets of a segment's batch entries (spool_file.h's format).
local function batch_entries(path)
  local f = io.open(path, "rb")
  local data = f:read("*a")
  f:close()
  local out, off = {}, 104
  while off + 64 <= #data do
    local b1, b2, b3, b4 = data:byte(off + 41, off + 44)
    local body = b1 + b2 * 256 + b3 * 65536 + b4 * 16777216
    if data:byte(off + 5) == 1 then out[#out + 1] = off end
    off = off + 64 + math.ceil(body / 8) * 8
  end
  return out
end

local function sessions(gl, n, from)
  local ids = {}
  for i = 1, n do
    local port = (from or 0) + i
    ids[i] = assert(gl:tcp_start(1, "10.9." .. math.floor(port / 250) % 250 .. "." .. port % 250 .. ":" .. 1024 + port % 60000, "10.0.0.5:443"))
    assert(gl:tcp_end(ids[i]))
  end
  return ids
end

local function logged(logs, pattern)
  for _, l in ipairs(logs) do
    if l.msg:find(pattern) then return l end
  end
end

-- A core on `dir` whose sink never answers: n sessions, the first
-- max_inflight (4) batches sent once, then closed at once: all are left in
-- the spool.
local function leave_in_spool(dir, n, opts)
  opts = opts or {}
  opts.spool_dir = dir
  opts.batch_max = opts.batch_max or 10
  local gl, cap = S.new(opts)
  cap.mode = "hold"
  local ids = sessions(gl, n)
  gl:flush()
  S.run_until(gl, function() return #cap.held == 4 and gl:stats().spool_batches == math.ceil(n / 10) end, 5)
  local st = gl:close(0)
  return ids, st, cap
end

describe("spool", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("writes each batch before its send and deletes what is done", function()
    local gl, cap = S.new({ spool_dir = dir, batch_max = 10 })
    sessions(gl, 95)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.records == 95 end))
    assert.is_true(S.run_until(gl, function() return gl:stats().spool_batches == 0 end))
    local st = gl:stats()
    assert.equal(10, st.batches_sealed)
    assert.equal(0, st.spool_write_errors)
    assert.is_true(st.spool_bytes > 0) -- the open segment, all done
    st = gl:close(1)
    assert.equal(0, st.spooled_on_close)
    assert.equal(0, st.lost_on_close)
    assert.same({}, segments(dir)) -- nothing left to send
    assert.same({ "LOCK", "instance" }, ls(dir))
  end)

  it("keeps a close's undelivered batches for the next start, which sends them first", function()
    local ids, st = leave_in_spool(dir, 45)
    assert.equal(0, st.lost_on_close)
    assert.equal(5, st.spooled_on_close)
    assert.equal(5, st.spool_batches)

    -- The next core runs another script: the recovered batches go through it.
    local gl, cap = S.new({ spool_dir = dir, script = S.fixture("capture_b.lua"), batch_max = 10 })
    st = gl:stats()
    assert.equal(5, st.batches_recovered)
    assert.equal(45, st.records_recovered)
    local fresh = sessions(gl, 3, 1000)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.records == 48 end))
    local got = S.ids(cap.records)
    for i = 1, 45 do assert.equal(ids[i], got[i]) end -- first, in their order
    for i = 1, 3 do assert.equal(fresh[i], got[45 + i]) end
    for i, b in ipairs(cap.batches) do
      assert.equal("b", b.script)
      if i <= 5 then
        assert.is_true(b.recovered)
        -- The attempts before the close count: max_inflight (4) were sent.
        assert.equal(i <= 4 and 2 or 1, b.attempt)
      else
        assert.is_nil(b.recovered)
        assert.equal(1, b.attempt)
      end
    end
    st = gl:close(1)
    assert.equal(0, st.spooled_on_close)
    assert.same({}, segments(dir))
  end)

  it("gives recovered batches their ids and the instance id they were made under", function()
    local opts = { spool_dir = dir, batch_max = 10 }
    local gl, cap = S.new(opts)
    cap.mode = "hold"
    sessions(gl, 20)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.held == 2 end))
    local sent = { cap.held[1].batch, cap.held[2].batch }
    local instance = gatelog.new and sent[1].instance_id
    assert.matches("^%x+$", instance)
    assert.equal(16, #instance)
    gl:close(0)
    -- An instance id given as an option is used for new batches only.
    gl, cap = S.new({ spool_dir = dir, batch_max = 10, instance_id = "edge-7" })
    sessions(gl, 1, 500)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.batches == 3 end))
    assert.equal(sent[1].id, cap.batches[1].id)
    assert.equal(sent[2].id, cap.batches[2].id)
    assert.equal(instance, cap.batches[1].instance_id)
    assert.equal("edge-7", cap.batches[3].instance_id)
    gl:close(1)
    -- Without the option, the spool's own id stays the default.
    gl, cap = S.new({ spool_dir = dir })
    sessions(gl, 1)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.batches == 1 end))
    assert.equal(instance, cap.batches[1].instance_id)
    gl:close(1)
  end)

  it("syncs on spool_fsync without changing what is delivered", function()
    local gl, cap, logs = S.new({ spool_dir = dir, spool_fsync = 0.01, batch_max = 10 })
    sessions(gl, 50)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return #cap.records == 50 end))
    gl:run(0.05)
    local st = gl:close(1)
    assert.equal(0, st.spool_write_errors)
    assert.is_nil(logged(logs, "fdatasync"))
    assert.same({}, segments(dir))
  end)

  it("without a spool, makes an instance id at each start", function()
    local ids = {}
    for i = 1, 2 do
      local gl, cap = S.new({})
      sessions(gl, 1)
      gl:flush()
      assert.is_true(S.run_until(gl, function() return #cap.batches == 1 end))
      ids[i] = cap.batches[1].instance_id
      assert.is_nil(cap.batches[1].recovered)
      gl:close(1)
    end
    assert.matches("^%x+$", ids[1])
    assert.are_not.equal(ids[1], ids[2])
  end)

  it("cannot be shared by two cores, nor made where no directory can be", function()
    local gl = S.new({ spool_dir = dir })
    local other, err, name = gatelog.new({ script = S.fixture("capture.lua"), spool_dir = dir })
    assert.is_nil(other)
    assert.equal("EBUSY", name)
    assert.matches("in use by another gatelog core", err)
    gl:close(1)
    -- Once the first is closed, the lock is free.
    local again = S.new({ spool_dir = dir })
    again:close(1)

    local f = io.open(dir .. "/file", "w")
    f:write("x")
    f:close()
    other, err = gatelog.new({ script = S.fixture("capture.lua"), spool_dir = dir .. "/file/spool" })
    assert.is_nil(other)
    assert.matches("spool_dir .*/file/spool: cannot create it: ", err)
    other, err = gatelog.new({ script = S.fixture("capture.lua"), spool_dir = dir, instance_id = "a b" })
    assert.is_nil(other)
    assert.matches("instance_id must be", err)
  end)

  it("skips a torn entry and a flipped byte, counts and logs them, delivers the rest", function()
    -- Small segments: several, each with several batches.
    local ids = leave_in_spool(dir, 1000, { spool_max_bytes = 131072 })
    local segs = segments(dir)
    assert.is_true(#segs >= 3, "want 3 segments, got " .. #segs)
    -- Cut the last segment in the middle of its last batch entry, and
    -- flip a byte in the body of the first one's first entry (a batch).
    local last = batch_entries(segs[#segs])
    os.execute(("truncate -s %d %s"):format(last[#last] + 64 + 20, segs[#segs]))
    local first = batch_entries(segs[1])
    local f = io.open(segs[1], "r+b")
    f:seek("set", first[1] + 64 + 10)
    local c = f:read(1)
    f:seek("set", first[1] + 64 + 10)
    f:write(string.char((c:byte() + 1) % 256))
    f:close()

    local gl, cap, logs = S.new({ spool_dir = dir, spool_max_bytes = 131072 })
    gl:flush()
    assert.is_true(S.run_until(gl, function()
      local st = gl:stats()
      return st.records_queued == 0
    end, 10))
    local st = gl:stats()
    assert.equal(2, st.spool_corrupt)
    assert.equal(980, #cap.records) -- two batches of 10 lost
    -- The torn one is not recovered; the damaged one is, and dropped
    -- when it fails its checksum on the way to send.
    assert.equal(990, st.records_recovered)
    assert.equal(10, st.records_dropped)
    -- What arrived is in order, each once.
    local want, seen = 1, {}
    for _, r in ipairs(cap.records) do
      assert.is_nil(seen[r.sessionId])
      seen[r.sessionId] = true
      while ids[want] ~= r.sessionId do want = want + 1 end
    end
    local name = segs[#segs]:match("[^/]+$")
    assert.truthy(logged(logs, name:gsub("%-", "%%-") .. " at offset %d+: truncated entry"))
    assert.truthy(logged(logs, "at offset %d+: bad [a-z]+ checksum"))
    gl:close(1)
  end)

  it("holds batches on disk only when memory is full, and sends them in order", function()
    local gl, cap, logs = S.new({ spool_dir = dir, batch_max = 10, queue_max = 30 })
    cap.mode = "fail"
    local ids = sessions(gl, 500)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return gl:stats().spool_batches == 50 end))
    local st = gl:stats()
    assert.equal(0, st.records_dropped)
    assert.equal(500, st.records_queued)
    cap.mode = "ok"
    assert(gl:flush()) -- try now
    assert.is_true(S.run_until(gl, function() return #cap.records == 500 end, 10))
    assert.same(ids, S.ids(cap.records))
    assert.is_nil(logged(logs, "dropped"))
    gl:close(1)
  end)

  it("takes a burst of 10,000 sessions at default settings: every record once", function()
    local gl, cap = S.new({ spool_dir = dir })
    local ids = sessions(gl, 10000)
    assert.is_true(S.run_until(gl, function() return #cap.records == 10000 end, 20))
    assert.same(ids, S.ids(cap.records))
    local st = gl:close(1)
    assert.equal(0, st.records_dropped)
  end)

  it("drops the oldest batches past spool_max_bytes, counted and logged", function()
    -- Memory holds 1 MiB (about 2,800 of these records): the rest goes to
    -- the disk, where 64 KiB hold fewer still.
    local gl, cap, logs = S.new({ spool_dir = dir, batch_max = 10, queue_max_bytes = 1048576,
                                  spool_max_bytes = 65536 })
    cap.mode = "fail"
    local ids = sessions(gl, 6000)
    gl:flush()
    assert.is_true(S.run_until(gl, function() return gl:stats().batches_sealed == 600 and gl:stats().spool_batches > 0 end))
    -- The spool drops once the compression threads have written past its
    -- limit: waited for, not assumed within a fixed time (under ASan on a
    -- busy machine they lag the loop by more than 0.1 s).
    assert.is_true(S.run_until(gl, function() return gl:stats().records_dropped > 0 end, 20))
    local st = gl:stats()
    assert.is_true(st.spool_bytes <= 65536, st.spool_bytes)
    assert.truthy(logged(logs, "spool over spool_max_bytes=65536: dropped its oldest segment"))
    cap.mode = "ok"
    gl:flush()
    assert.is_true(S.run_until(gl, function() return gl:stats().records_queued == 0 end, 10))
    st = gl:stats()
    assert.equal(6000, #cap.records + st.records_dropped)
    -- In order, with one gap: the oldest batches on disk were dropped; the
    -- newest were kept, and the oldest held in memory too.
    local pos = {}
    for i, id in ipairs(ids) do pos[id] = i end
    local got = S.ids(cap.records)
    for i = 2, #got do assert.is_true(pos[got[i]] > pos[got[i - 1]]) end
    for i = #got - 899, #got do assert.equal(6000 - #got + i, pos[got[i]]) end
    gl:close(1)
  end)
end)
