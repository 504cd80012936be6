-- The nats transport against a three-node JetStream cluster on loopback
-- (routes, JetStream on each node, its own store directory) and a stream
-- with three replicas: records keep flowing while the node the client is
-- connected to is killed (SIGKILL) and later started again, and the
-- stream then holds every record exactly once.
local gatelog = require "gatelog"
local cjson = require "cjson"
local S = require "support"
local servers = require "servers"

if not servers.have("nats-server") then
  describe("nats cluster", function()
    pending("nats-server is not installed (Debian package nats-server, in dev/packages.txt): skipped")
  end)
  return
end

local N = require "nats_support"

describe("nats cluster", function()
  local nodes
  setup(function() nodes = N.cluster() end)
  teardown(function()
    for _, n in ipairs(nodes) do
      n:stop()
      os.execute("rm -rf " .. n.dir)
    end
  end)

  it("loses and doubles nothing when the connected node is killed and comes back", function()
    local cl = assert(N.client(nodes[1].port))
    cl:create_stream("CLUSTER", { "glc.>" }, { replicas = 3 })
    cl:close()
    local urls = {}
    for i, n in ipairs(nodes) do urls[i] = n.url end
    servers.setenv("GATELOG_NATS_URL", table.concat(urls, ","))
    servers.setenv("GATELOG_NATS_SUBJECT", "glc.{resourceId}")
    servers.setenv("GATELOG_NATS_ACK_TIMEOUT", "1")
    local logs = {}
    local gl = assert(gatelog.new{ script = S.src .. "/scripts/nats.lua", access_log = false, flush_interval = 0.05,
      batch_max = 20, queue_max = 100000, retry_max = 0.5, instance_id = "edge-c",
      log = function(_, m) logs[#logs + 1] = m end,
      lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" })
    local sids, total = {}, 0
    -- k sessions, a few at a time, with the loop running in between.
    local function traffic(k)
      for i = 1, k do
        total = total + 1
        local sid = gl:tcp_start(total % 7, "203.0.113.9:" .. (1000 + total % 60000), "10.0.0.5:443")
        gl:tcp_end(sid)
        sids[#sids + 1] = sid
        if i % 10 == 0 then gl:run(0.02) end
      end
    end

    traffic(100)
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent > 0 end, 30))
    local victim
    assert.is_true(servers.wait(function()
      for _, n in ipairs(nodes) do
        if (n:clients("gatelog") or 0) > 0 then victim = n end
      end
      return victim ~= nil
    end, 10), "no node has the gatelog client")
    -- Killed with messages in flight: their acknowledgements never come.
    traffic(200)
    gl:flush()
    gl:run(0.01)
    victim:kill9()
    traffic(100)
    -- Everything so far delivered through the other nodes before the
    -- victim returns.
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == total end, 60),
      "nothing delivered with one node down: " .. cjson.encode(gl:stats()) .. "\n" .. table.concat(logs, "\n"))
    assert.is_true(victim:start(), "the killed node did not start again")
    traffic(200)
    assert.is_true(servers.run_until(gl, {}, function() return gl:stats().records_sent == total end, 90),
      "not every record was delivered: " .. cjson.encode(gl:stats()) .. "\n" .. table.concat(logs, "\n"))
    local st = gl:stats()
    assert.is_true(st.nats_reconnects >= 1)
    assert.is_true(st.nats_acked >= total)
    -- Whatever was sent again is published more than once, stored once:
    -- an acknowledgement that is not a duplicate stands for a message
    -- stored anew, and there are no more of those than records.
    assert.is_true(st.nats_duplicates <= st.nats_published - total)
    assert.is_true(st.nats_acked - st.nats_duplicates <= total)
    gl:close(2)

    local reader
    for _, n in ipairs(nodes) do
      if n ~= victim then reader = reader or N.client(n.port) end
    end
    local msgs = reader:messages("CLUSTER")
    assert.equal(total, #msgs)
    local seen = {}
    for _, m in ipairs(msgs) do
      local id = m.headers["Nats-Msg-Id"]
      assert.is_nil(seen[id], "stored twice: " .. tostring(id))
      seen[id] = true
    end
    for _, sid in ipairs(sids) do assert.is_true(seen["edge-c-" .. sid], "missing " .. sid) end
    reader:close()
    print(("nats cluster: %d records, %d published, %d duplicates, %d reconnects, %d errors, %d retries"):format(
      total, st.nats_published, st.nats_duplicates, st.nats_reconnects, st.nats_errors, st.batches_retried))
  end)
end)
