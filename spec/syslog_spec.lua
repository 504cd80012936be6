-- scripts/syslog.lua against a real rsyslogd started on loopback: imtcp
-- takes the octet-counted frames, imudp the datagrams, and omfile writes
-- each message (RFC 5424 as received) to a file this spec reads.
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

if not servers.have("rsyslogd") then
  describe("syslog against rsyslogd", function()
    pending("rsyslogd is not installed (Debian package rsyslog, in dev/packages.txt): skipped")
  end)
  return
end

-- The structured data of a message as a table.
local function params(line)
  local sd = line:match("%[gatelog@32473 (.-[^\\])%]")
  local out = {}
  for k, v in (sd or ""):gmatch('([%w%._%-]+)="(.-[^\\]?)"') do out[k] = v:gsub("\\(.)", "%1") end
  return out
end

describe("syslog against rsyslogd", function()
  local dir, udp_port, tcp_port, gl
  setup(function()
    dir = servers.tmpdir()
    udp_port = servers.free_port()
    local conf = dir .. "/rsyslog.conf"
    local f = assert(io.open(conf, "w"))
    f:write(([[
global(workDirectory="%s")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="%s/tcp.port" ruleset="tcp")
input(type="imudp" address="127.0.0.1" port="%d" ruleset="udp")
ruleset(name="tcp") { action(type="omfile" file="%s/tcp.log" template="RSYSLOG_SyslogProtocol23Format") }
ruleset(name="udp") { action(type="omfile" file="%s/udp.log" template="RSYSLOG_SyslogProtocol23Format") }
]]):format(dir, dir, udp_port, dir, dir))
    f:close()
    servers.spawn(("rsyslogd -n -f %s -i %s/rsyslogd.pid"):format(conf, dir), dir .. "/spawn.pid", dir .. "/rsyslogd.out")
    assert(servers.wait(function() return tonumber(servers.read(dir .. "/tcp.port") or "") end, 20),
      "rsyslogd did not start: " .. tostring(servers.read(dir .. "/rsyslogd.out")))
    tcp_port = tonumber(servers.read(dir .. "/tcp.port"))
  end)
  teardown(function()
    servers.kill(dir .. "/rsyslogd.pid")
    servers.kill(dir .. "/spawn.pid")
    os.execute("rm -rf " .. dir)
  end)
  after_each(function()
    if gl then gl:close(0.5) end
    gl = nil
    for _, k in ipairs({ "GATELOG_SYSLOG_PORT", "GATELOG_SYSLOG_TRANSPORT" }) do servers.unsetenv(k) end
  end)

  local function run(transport, port, log)
    servers.setenv("GATELOG_SYSLOG_PORT", tostring(port))
    servers.setenv("GATELOG_SYSLOG_TRANSPORT", transport)
    gl = assert(gatelog.new{ script = S.src .. "/scripts/syslog.lua", access_log = false, flush_interval = 60,
      batch_max = 10, lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua" })
    local want = {}
    for i = 1, 25 do
      local sid
      if i % 2 == 0 then
        sid = gl:udp_track(i, "[2001:db8::" .. i .. "]:" .. (5000 + i), "10.0.0.1:53")
        gl:add_bytes(sid, i, 2 * i)
        gl:udp_end(sid)
      else
        sid = gl:tcp_start(i, "203.0.113." .. i .. ":" .. (40000 + i), "10.0.0.5:443")
        gl:add_bytes(sid, i, 2 * i)
        gl:tcp_end(sid, i == 1 and "upstream_refused" or nil)
      end
      want[sid] = i
    end
    assert(gl:flush())
    assert.truthy(S.run_until(gl, function() return gl:stats().records_sent == 25 end, 20))
    local lines
    assert.truthy(servers.wait(function()
      lines = {}
      for line in (servers.read(dir .. "/" .. log) or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
      return #lines >= 25
    end, 20), "rsyslog wrote " .. #(lines or {}) .. " messages")
    assert.equal(25, #lines)
    local seen = {}
    for _, line in ipairs(lines) do
      assert.matches("^<134>1 %d%d%d%d%-%d%d%-%d%dT[%d:%.]+Z %S+ gatelog %- access %[gatelog@32473 ", line)
      local p = params(line)
      local i = want[p.sessionId]
      assert.truthy(i, "unknown session in " .. line)
      assert.is_nil(seen[p.sessionId])
      seen[p.sessionId] = true
      assert.equal(tostring(i), p.resourceId)
      assert.equal(tostring(i), p.bytesTx)
      assert.equal(tostring(2 * i), p.bytesRx)
      if i % 2 == 0 then
        assert.equal("[2001:db8::" .. i .. "]:" .. (5000 + i), p.sourceAddr)
        assert.equal("udp", p.protocol)
      else
        assert.equal("tcp", p.protocol)
      end
      assert.equal(i == 1 and "upstream_refused" or "closed", p.endReason)
    end
  end

  it("TCP: every record arrives as one octet-counted message with its structured data", function()
    run("tcp", tcp_port, "tcp.log")
  end)

  it("UDP: every record arrives as one datagram with its structured data", function()
    run("udp", udp_port, "udp.log")
  end)
end)
