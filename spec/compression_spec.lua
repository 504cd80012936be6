-- Both compressors write the zlib format: every payload inflates with
-- plain zlib (lua-zlib, not gatelog's code) to the same JSON.
local S = require "support"

describe("compressors", function()
  for _, compressor in ipairs({ "zlib", "libdeflate", "auto" }) do
    it(compressor .. " payloads inflate with plain zlib to the batch's JSON", function()
      local gl, cap = S.new({ compressor = compressor, batch_max = 50, compression_level = 6 })
      local ids = {}
      for i = 1, 120 do
        local sid = gl:tcp_start(i, "[2001:db8::" .. i .. "]:" .. (1000 + i), "10.0.0.5:443")
        gl:add_bytes(sid, i * 3, i * 7)
        gl:tcp_end(sid)
        ids[i] = sid
      end
      gl:flush()
      assert.truthy(S.run_until(gl, function() return #cap.records == 120 end))
      for _, b in ipairs(cap.batches) do
        assert.equal(b.json, S.payload_json(b.payload))
      end
      assert.same(ids, S.ids(cap.records))
      local st = gl:stats()
      assert.is_true(st.bytes_compressed < st.bytes_json / 3)
      gl:close(1)
    end)
  end

  it("refuses an unknown compressor", function()
    assert.has_error(function() S.new({ compressor = "lz4" }) end)
  end)
end)
