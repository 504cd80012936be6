-- The C codecs (gatelog.codec.native) against the Lua codecs: the same
-- batches through both, every codec and its options, on records that
-- test the writing: IPv4 and IPv6, UDP, an endReason of the gateway's,
-- enrichment strings with every escape and invalid UTF-8, numbers of
-- every kind, booleans, keys to sort and to escape, replaced addresses,
-- counters past 2^53, start records and interim fields. The bytes must be
-- equal; a bad name or option fails the load, naming it.
local cjson = require "cjson"
local S = require "support"

local TEMPLATE = assert(io.open(S.fixture("codec_c.lua"))):read("*a")
local write = S.script_writer()

-- A Lua literal for a plain value (strings, numbers, booleans, tables).
local function literal(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = "[" .. literal(k) .. "]=" .. literal(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function script(name, opts)
  local text = TEMPLATE:gsub("local NAME, OPTS = CASE", function()
    return "local NAME, OPTS = " .. literal(name) .. ", " .. literal(opts)
  end)
  return write(text)
end

-- Sessions covering the cases above, in one batch; resource ids pick the
-- enrichment (spec/fixtures/codec_c.lua).
local function sessions(gl, big)
  local sid = gl:tcp_start(1, "203.0.113.7:51234", "10.0.0.5:443")
  gl:add_bytes(sid, 12345, 67890)
  gl:tcp_end(sid)
  gl:tcp_end(gl:tcp_start(2, "[2001:db8::1]:5000", "[2001:db8::53]:53"), "reset by \"peer\" <x>")
  gl:udp_end(gl:udp_track(3, "192.0.2.9:53000", "198.51.100.1:53"))
  gl:tcp_end(gl:tcp_start(4, "10.1.1.1:1", "10.2.2.2:2"), "idle]")
  gl:tcp_end(gl:tcp_start(5, "10.1.1.1:3", "10.2.2.2:4"))
  gl:udp_end(gl:udp_track(6, "[::1]:7", "[fe80::1]:8"))
  if big then
    sid = gl:tcp_start(7, "10.1.1.1:5", "10.2.2.2:6")
    gl:add_bytes(sid, 2 ^ 53 + 2, 2 ^ 60)
    gl:tcp_end(sid)
  end
end

local function run(name, opts, core_opts, big)
  core_opts = core_opts or {}
  core_opts.script = script(name, opts)
  core_opts.flush_interval = 60
  local gl, cap = S.new(core_opts)
  sessions(gl, big)
  assert(gl:flush())
  assert.truthy(S.run_until(gl, function() return #cap.batches >= 1 end, 20))
  gl:close(1)
  return cap.batches
end

local CASES = {
  { "ndjson" },
  { "elasticsearch" },
  { "elasticsearch", { index = "logs-\"gw\"", instance_id = "edge <7>" } },
  { "loki" },
  { "loki", { labels = { job = "gw", host = "edge-1", n = 3, on = true }, instance_id = "i \"1\" &" } },
  { "otlp" },
  { "otlp", { service_name = "gateway", host_name = "edge\"1", instance_id = "x<y>",
    resource = { ["deployment.environment"] = "prod", zone = 3, ha = false } } },
  { "syslog" },
  { "syslog", { facility = 4, severity = 3, hostname = "my host", app_name = "gw", procid = 77,
    msgid = "acc", sd_id = "x@1" } },
}

describe("C codecs write the Lua codecs' bytes", function()
  for _, case in ipairs(CASES) do
    local name, opts = case[1], case[2] or {}
    local label = name .. " " .. literal(opts)
    for _, mode in ipairs({ "final records", "start and final records" }) do
      it(label .. ", " .. mode, function()
        local start = mode ~= "final records"
        -- Counters past 2^53 take otlp.lua's general path: tested below.
        local batches = run(name, opts, { log_start = start }, name ~= "otlp")
        local n = 0
        for _, b in ipairs(batches) do
          n = n + b.count
          assert.is_string(b.c, "no C body")
          assert.equal(b.lua, b.c)
          -- The enrichment is there (the bodies are not trivially equal).
          for _, want in ipairs({ "summer", "1e-300", "0.33333333333333", "k12", "idle" }) do
            assert.truthy(b.c:find(want, 1, true), want)
          end
          assert.is_true(b.encode)
          if b.msgs.lua then assert.same(b.msgs.lua, b.msgs.c) end
        end
        assert.equal((name ~= "otlp" and 7 or 6) * (start and 2 or 1), n)
      end)
    end
  end

  it("otlp leaves a batch with a counter past 2^53 to the Lua codec: the same bytes", function()
    local batches = run("otlp", {}, {}, true)
    assert.equal(false, batches[1].c)
    assert.is_true(batches[1].encode)
  end)

  it("a batch sealed before a reload changed the codec is written by the new Lua codec", function()
    local path = script("ndjson", {})
    local gl, cap = S.new({ script = path, flush_interval = 60 })
    cap.mode = "fail"
    gl:tcp_end(gl:tcp_start(2, "10.0.0.1:1000", "10.0.0.2:80"))
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return cap.calls >= 1 end))
    local f = assert(io.open(path, "w"))
    f:write((TEMPLATE:gsub("local NAME, OPTS = CASE", function() return 'local NAME, OPTS = "syslog", {}' end)))
    f:close()
    assert.is_true(gl:reload())
    cap.mode = "ok"
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end, 20))
    local b = cap.batches[1]
    assert.equal(false, b.c) -- its body is ndjson's: not this codec's
    assert.is_true(b.encode)
    assert.matches("^%d+ <134>1 ", b.lua)
    gl:close(1)
  end)

  it("a session whose records are all dropped makes no batch, and records given as a table go to Lua", function()
    local path = write([[
local core = require "gatelog.core"
local native = require "gatelog.codec.native"
local c = native.new("ndjson")
assert(c.encode({}) == "")
assert(c.body({ payload = "x", records = {} }) == nil)
assert(native.new("loki").encode({}) == '{"streams":[]}')
return { send = function(b, done) done(true) end }
]])
    local gl = S.new({ script = path })
    gl:close(1)
  end)
end)

describe("gatelog.codec.native errors", function()
  local function load_error(src)
    local gatelog = require "gatelog"
    local gl, err = gatelog.new({ script = write(src), access_log = false,
      lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" })
    if gl then gl:close(1) end
    return gl, err
  end

  local BAD = {
    { 'native.new("xml")', "no C codec 'xml' %(known: ndjson, otlp, loki, elasticsearch, syslog%)" },
    { 'native.new("newt")', "no C codec 'newt'" },
    { 'native.new("otlp", { servce_name = "x" })', "otlp has no option 'servce_name' %(its options: " },
    { 'native.new("ndjson", { index = "x" })', "ndjson has no option 'index' %(it takes none%)" },
    { 'native.new("syslog", { facility = 24 })', "syslog option facility must be an integer from 0 to 23" },
    { 'native.new("syslog", { severity = "info" })', "syslog option severity must be an integer from 0 to 7" },
    { 'native.new("loki", { labels = { 1, 2 } })', "loki option labels must be a table of string keys" },
    { 'native.new("elasticsearch", { index = 5 })', "elasticsearch option index must be a string" },
    { 'native.new("otlp", "x")', "otlp options must be a table, got string" },
  }
  for _, case in ipairs(BAD) do
    it("fails the load: " .. case[1], function()
      local gl, err = load_error('local native = require "gatelog.codec.native"\nlocal c = ' .. case[1] ..
        '\nreturn { send = function(b, done) done(true) end }')
      assert.is_nil(gl)
      assert.matches("gatelog.codec.native: " .. case[2], err)
      assert.matches("policy%d+%.lua:2:", err) -- the script's line
    end)
  end
end)
