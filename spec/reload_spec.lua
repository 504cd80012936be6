-- Reload: atomic, lossless, checked before it is swapped in, applied live.
local S = require "support"

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- A capture policy tagging records and batches with a version.
local function versioned(version, extra)
  return ([[
local core = require "gatelog.core"
local cjson = require "cjson"
return {
  %s
  enrich = function(s) s.version = %d end,
  send = function(b, done)
    core.senders.capture(cjson.encode({ payload = b.payload, id = b.id, attempt = b.attempt,
      count = b.count, version = %d }), function(ok, err) done(ok, err) end)
  end,
}
]]):format(extra or "", version, version)
end

local BAD = {
  syntax = "return { send = function(b, done) done(true) end",
  nosend = "return { enrich = function(s) end }",
  unknown_key = "return { send = function(b, done) done(true) end, config = { batch_maximum = 5 } }",
  enrich_raises = "return { send = function(b, done) done(true) end, enrich = function(s) error('no ' .. s.protocol) end }",
  budget = "return { send = function(b, done) done(true) end, filter = function(s) while true do end end }",
}

local function sha256sum(path)
  local p = io.popen("sha256sum " .. path)
  local out = p:read("*a")
  p:close()
  return out:match("^(%x+)")
end

describe("reload", function()
  local path, gl, cap, logs
  before_each(function()
    path = dir .. "/policy.lua"
    write(path, versioned(1))
  end)
  after_each(function() if gl then gl:close(1) end gl = nil end)

  it("switches behaviour: records after it carry the new enrichment", function()
    gl, cap = S.new({ script = path })
    local info = gl:script_info()
    assert.equal(path, info.path)
    assert.equal(sha256sum(path), info.sha256)
    assert.equal(1, S.one_record(gl, cap).version)
    write(path, versioned(2))
    assert.is_true(gl:reload())
    assert.equal(2, S.one_record(gl, cap).version)
    local st = gl:stats()
    assert.equal(1, st.reloads)
    assert.equal(0, st.reload_failures)
    assert.equal(sha256sum(path), gl:script_info().sha256)
    assert.are_not.equal(info.sha256, gl:script_info().sha256)
    assert.is_true(gl:script_info().loaded_at >= info.loaded_at)
  end)

  for name, text in pairs(BAD) do
    it("refuses a script that fails (" .. name .. ") and keeps the old one", function()
      gl, cap, logs = S.new({ script = path })
      write(path, text)
      local ok, err, ename = gl:reload()
      assert.is_nil(ok)
      assert.is_true(ename == "ESCRIPT" or ename == "ECONFIG")
      assert.matches(path, err, 1, true)
      if name ~= "nosend" and name ~= "unknown_key" then
        assert.matches(path:gsub("%p", "%%%0") .. ":%d+:", err) -- file and line
      end
      assert.equal(err:match("^%u+: (.*)$"), gl:last_error())
      assert.equal(gl:last_error(), gl:script_info().last_reload_error)
      assert.equal(1, gl:stats().reload_failures)
      assert.equal(0, gl:stats().reloads)
      assert.equal(1, S.one_record(gl, cap).version) -- the old script runs on
      local said = false
      for _, l in ipairs(logs) do said = said or l.msg:find("reload failed; the running script stays", 1, true) ~= nil end
      assert.is_true(said)
      assert.equal(1, gl:stats().script_states)
    end)
  end

  it("names the unknown config key", function()
    gl, cap = S.new({ script = path })
    write(path, BAD.unknown_key)
    local _, err = gl:reload()
    assert.matches("unknown key 'batch_maximum'", err, 1, true)
  end)

  it("loses and duplicates nothing while 100,000 sessions complete across 100 reloads", function()
    gl, cap = S.new({ script = path, batch_max = 1000, queue_max = 200000, flush_interval = 0.05 })
    local want, expected_version = {}, {}
    local version = 1
    for round = 1, 100 do
      for i = 1, 1000 do
        local sid = gl:tcp_start(round, "10.5." .. round .. "." .. (i % 250) .. ":" .. (1000 + i), "10.0.0.5:443")
        gl:add_bytes(sid, i, i)
        gl:tcp_end(sid)
        want[#want + 1] = sid
        expected_version[sid] = version
      end
      if round % 2 == 0 then
        write(path, versioned(round))
        assert.is_true(gl:reload())
        version = round
      else
        write(path, BAD.enrich_raises)
        assert.is_nil(gl:reload())
      end
      if round % 10 == 0 then gl:run(0.001) end
    end
    assert.truthy(S.run_until(gl, function() return #cap.records == 100000 end, 30))
    gl:run(0.1)
    assert.equal(100000, #cap.records)
    local seen = {}
    for _, r in ipairs(cap.records) do
      assert.is_nil(seen[r.sessionId], "duplicate " .. r.sessionId)
      seen[r.sessionId] = true
      assert.equal(expected_version[r.sessionId], r.version)
    end
    for _, sid in ipairs(want) do assert.is_true(seen[sid]) end
    local st = gl:stats()
    assert.equal(50, st.reloads)
    assert.equal(50, st.reload_failures)
    assert.equal(100000, st.records_sent)
    assert.equal(0, st.records_dropped)
  end)

  it("lets a batch in flight complete through the old script's done", function()
    gl, cap = S.new({ script = path, batch_max = 2 })
    cap.mode = "hold"
    for i = 1, 2 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    write(path, versioned(2))
    assert.is_true(gl:reload())
    assert.equal(2, gl:stats().script_states) -- the old state lives while its send is out
    cap.mode = "ok"
    cap.release(true)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 1 end))
    assert.equal(1, cap.batches[1].version) -- sent, and answered, by the old script
    assert.equal(0, gl:stats().done_ignored)
    assert.equal(1, gl:stats().script_states) -- and then closed
    local _, b = S.one_record(gl, cap)
    assert.equal(2, b.version)
  end)

  it("retries a batch that failed under the old script through the new one", function()
    gl, cap = S.new({ script = path, batch_max = 2, flush_interval = 0.05 })
    cap.mode = "hold"
    for i = 1, 2 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return #cap.held == 1 end))
    write(path, versioned(2))
    assert.is_true(gl:reload())
    cap.mode = "ok"
    cap.release(false)
    assert.truthy(S.run_until(gl, function() return gl:stats().batches_sent == 1 end, 3))
    assert.equal(2, cap.batches[1].version)
    assert.equal(2, cap.batches[1].attempt)
    assert.equal(1, cap.records[1].version) -- its records were enriched by the old one
    assert.equal(1, gl:stats().script_states)
  end)

  it("applies a changed flush interval live", function()
    write(path, versioned(1, "config = { flush_interval = 60 },"))
    gl, cap = S.new({ script = path })
    gl:tcp_end(gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:80"))
    gl:run(0.2)
    assert.equal(0, #cap.batches)
    write(path, versioned(2, "config = { flush_interval = 0.05 },"))
    assert.is_true(gl:reload())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end, 2))
    assert.equal(1, cap.records[1].version)
    gl:tcp_end(gl:tcp_start(1, "10.0.0.1:2", "10.0.0.2:80"))
    assert.truthy(S.run_until(gl, function() return #cap.batches == 2 end, 2))
  end)

  it("applies a smaller batch size live, sealing what already waits", function()
    write(path, versioned(1, "config = { batch_max = 100, flush_interval = 60 },"))
    gl, cap = S.new({ script = path })
    for i = 1, 5 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    gl:run(0.05)
    assert.equal(0, #cap.batches)
    write(path, versioned(2, "config = { batch_max = 3, flush_interval = 60 },"))
    assert.is_true(gl:reload())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end))
    assert.equal(5, cap.batches[1].count)
    for i = 1, 3 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
    assert.truthy(S.run_until(gl, function() return #cap.batches == 2 end))
    assert.equal(3, cap.batches[2].count)
  end)
end)

describe("watch", function()
  local path, gl, cap
  before_each(function()
    path = dir .. "/watched.lua"
    write(path, versioned(1))
    gl, cap = S.new({ script = path, watch = true })
  end)
  after_each(function() gl:close(1) end)

  local function settle() gl:run(0.4) end

  it("reloads once per save in place, including a save in two writes", function()
    write(path, versioned(2))
    settle()
    assert.equal(1, gl:stats().reloads)
    assert.equal(2, S.one_record(gl, cap).version)
    local f = assert(io.open(path, "w"))
    f:write(versioned(3):sub(1, 40))
    f:flush()
    gl:run(0.01)
    f:write(versioned(3):sub(41))
    f:close()
    settle()
    assert.equal(2, gl:stats().reloads)
    assert.equal(0, gl:stats().reload_failures)
    assert.equal(3, S.one_record(gl, cap).version)
  end)

  it("reloads once for a save by rename, as editors do", function()
    write(path .. ".tmp", versioned(4))
    assert(os.rename(path .. ".tmp", path))
    settle()
    assert.equal(1, gl:stats().reloads)
    assert.equal(4, S.one_record(gl, cap).version)
    write(path .. ".tmp", versioned(5))
    assert(os.rename(path .. ".tmp", path))
    settle()
    assert.equal(2, gl:stats().reloads)
    assert.equal(5, S.one_record(gl, cap).version)
  end)

  it("does not reload for a touch or another file, and keeps the old script on a bad save", function()
    os.execute("touch " .. path)
    write(dir .. "/unrelated.txt", "x")
    settle()
    assert.equal(0, gl:stats().reloads)
    write(path, BAD.syntax)
    settle()
    assert.equal(0, gl:stats().reloads)
    assert.equal(1, gl:stats().reload_failures)
    assert.equal(1, S.one_record(gl, cap).version)
  end)
end)
