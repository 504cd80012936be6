-- The default codec: base64(zlib(JSON array)) exactly as the reference
-- writes it.
local gatelog = require "gatelog"
local cjson = require "cjson"
local S = require "support"

local TIME = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*Z$"
local KEYS = { "sessionId", "resourceId", "sourceAddr", "destAddr", "protocol",
               "startedAt", "endedAt", "bytesTx", "bytesRx" }

-- The keys of each object of a JSON array, in the order the text has them.
local function key_order(json)
  local out = {}
  -- Records are flat objects whose keys never contain '"' unescaped.
  for obj in json:gmatch("%b{}") do
    local keys = {}
    local i = 2
    while i <= #obj do
      local k, stop = obj:match('^"([^"]*)":()', i)
      if not k then break end
      keys[#keys + 1] = k
      -- skip the value: a string (with escapes) or a bare token
      if obj:sub(stop, stop) == '"' then
        local j = stop + 1
        while true do
          local c = obj:sub(j, j)
          if c == "\\" then j = j + 2 elseif c == '"' then break else j = j + 1 end
        end
        i = j + 2
      else
        i = obj:find("[,}]", stop) + 1
      end
    end
    out[#out + 1] = keys
  end
  return out
end

describe("default codec", function()
  local gl, cap
  after_each(function() if gl then gl:close(1) end end)

  it("decodes to exactly the completed records, in order, keys in the reference's order", function()
    gl, cap = S.new({ flush_interval = 60, batch_max = 100 })
    local t0 = gatelog.now()
    local want = {}
    for i = 1, 25 do
      local sid
      if i % 5 == 0 then
        sid = gl:udp_track(i, "[2001:db8::" .. i .. "]:" .. (5000 + i), "10.0.0.1:53")
      else
        sid = gl:tcp_start(i, "203.0.113." .. i .. ":" .. (40000 + i), "10.0.0.5:443")
      end
      gl:add_bytes(sid, i * 10, i * 100)
      want[#want + 1] = { sid = sid, i = i }
    end
    -- End them in an order unlike their start order.
    local order = {}
    for k = #want, 1, -1 do order[#order + 1] = want[k] end
    for _, w in ipairs(order) do
      if w.i % 5 == 0 then assert(gl:udp_end(w.sid)) else assert(gl:tcp_end(w.sid)) end
    end
    local t1 = gatelog.now()
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return #cap.batches == 1 end))
    local b = cap.batches[1]
    assert.equal(25, b.count)
    assert.equal(S.payload_json(b.payload), b.json)
    assert.equal(25, #b.records)
    for k, r in ipairs(b.records) do
      local w = order[k]
      assert.equal(w.sid, r.sessionId)
      assert.equal(w.i, r.resourceId)
      assert.equal(w.i * 10, r.bytesTx)
      assert.equal(w.i * 100, r.bytesRx)
      if w.i % 5 == 0 then
        assert.equal("udp", r.protocol)
        assert.equal("[2001:db8::" .. w.i .. "]:" .. (5000 + w.i), r.sourceAddr)
        assert.equal("10.0.0.1:53", r.destAddr)
      else
        assert.equal("tcp", r.protocol)
        assert.equal("203.0.113." .. w.i .. ":" .. (40000 + w.i), r.sourceAddr)
      end
      for _, field in ipairs({ "startedAt", "endedAt" }) do
        assert.matches(TIME, r[field])
        assert.is_not.matches("%.%d*0Z$", r[field]) -- trailing zeros trimmed
        local t = S.parse_time(r[field])
        assert.is_true(t >= t0 - 0.001 and t <= t1 + 0.001, field .. " " .. r[field])
      end
      assert.is_true(S.parse_time(r.endedAt) >= S.parse_time(r.startedAt))
      assert.equal(9, S.count_keys(r))
    end
    for _, keys in ipairs(key_order(b.json)) do assert.same(KEYS, keys) end
    assert.matches('^%[{"sessionId":"%x+","resourceId":%d+,"sourceAddr":"', b.json)
  end)

  it("puts enrichment keys after the standard ones, in the order they were set", function()
    gl, cap = S.new({ script = S.fixture("enrich_fields.lua") })
    local r, b = S.one_record(gl, cap)
    local keys = key_order(b.json)[1]
    local want = {}
    for i, k in ipairs(KEYS) do want[i] = k end
    for _, k in ipairs({ "site", "score", "vip", "tags" }) do want[#want + 1] = k end
    assert.same(want, keys)
    assert.equal("edge-2", r.site) -- set twice: the last value, the first position
    assert.equal(0.25, r.score)
    assert.equal(true, r.vip)
    assert.equal(3, r.tags)
    assert.equal("redacted", r.sourceAddr)
    assert.equal("10.0.0.2:80", r.destAddr)
    assert.is_nil(r.dropped_key)
  end)

  it("escapes every byte a script puts in a string into valid JSON", function()
    gl, cap = S.new({ script = S.fixture("enrich_bytes.lua") })
    local r, b = S.one_record(gl, cap)
    local json = b.json
    -- Every byte below 0x20 is escaped; the text is pure, valid UTF-8.
    assert.is_nil(json:find("[%z\1-\31]"))
    assert.matches('"ctl":"\\u0000\\u0001\\n\\r\\t\\u001f"', json, 1, true)
    assert.matches('"html":"\\u003cb\\u003e\\u0026"', json, 1, true)
    assert.equal("\0\1\n\r\t\31", r.ctl)
    assert.equal('quote " backslash \\ slash /', r.quote)
    assert.equal("<b>&", r.html)
    assert.equal("caf\195\169 \226\130\172 \240\159\152\128", r.utf8)
    -- Invalid UTF-8 becomes U+FFFD, one per bad byte.
    assert.equal("a\239\191\189\239\191\189b\239\191\189", r.invalid)
    assert.equal("\226\128\168", r.linesep)
    -- Keys are escaped too.
    assert.equal("x", r['we"ird\nkey'])
  end)

  it("writes the reference's RFC3339Nano form: UTC, nanoseconds, no trailing zeros", function()
    gl, cap = S.new({})
    for _ = 1, 200 do gl:tcp_end(gl:tcp_start(1, "10.0.0.1:1", "10.0.0.2:2")) end
    gl:flush()
    assert.truthy(S.run_until(gl, function() return #cap.records == 200 end))
    local fractions = 0
    for _, r in ipairs(cap.records) do
      for _, t in ipairs({ r.startedAt, r.endedAt }) do
        local frac = t:match("%.(%d+)Z$")
        if frac then
          fractions = fractions + 1
          assert.is_true(#frac >= 1 and #frac <= 9)
          assert.are_not.equal("0", frac:sub(-1))
        else
          assert.matches(":%d%dZ$", t)
        end
      end
    end
    assert.is_true(fractions > 300) -- nanosecond clocks rarely land on whole seconds
  end)

  it("compresses with zlib at the configured level (level 0 stores)", function()
    local sizes = {}
    for _, level in ipairs({ 0, 9 }) do
      local g, c = S.new({ compression_level = level })
      for i = 1, 50 do g:tcp_end(g:tcp_start(1, "10.0.0.1:" .. i, "10.0.0.2:80")) end
      g:flush()
      assert.truthy(S.run_until(g, function() return #c.batches == 1 end))
      local st = g:stats()
      sizes[level] = st.bytes_compressed
      assert.equal(#c.batches[1].json, st.bytes_json)
      assert.equal(#S.b64decode(c.batches[1].payload), st.bytes_compressed)
      g:close(1)
    end
    assert.is_true(sizes[0] > sizes[9] * 3)
  end)
end)
