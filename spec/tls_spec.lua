-- TLS on the tcp primitive, through the ready scripts, against real
-- servers with certificates this spec makes (openssl CLI): rsyslogd's
-- imtcp over OpenSSL (RFC 5425, octet-counted frames) and redis-server's
-- tls-port (which asks for a client certificate), and an HTTP script over
-- https to socat's TLS listener (GATELOG_CA_FILE). Every record arrives
-- once, counted by id; a wrong CA or a wrong name fails the send with a
-- clear, counted error, the batch waits, and a reload with the right
-- setting delivers it.
local gatelog = require "gatelog"
local S = require "support"
local servers = require "servers"

if not (servers.have("openssl") and servers.have("rsyslogd") and servers.have("redis-server") and servers.have("socat")) then
  describe("TLS", function()
    pending("openssl, rsyslogd, redis-server or socat is not installed (dev/packages.txt): skipped")
  end)
  return
end

local LUA_PATH = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua"
local VARS = { "GATELOG_SYSLOG_PORT", "GATELOG_SYSLOG_TRANSPORT", "GATELOG_TLS_CA_FILE", "GATELOG_TLS_CA_DIR",
  "GATELOG_TLS_SERVER_NAME", "GATELOG_TLS_CERT", "GATELOG_TLS_KEY", "GATELOG_REDIS_URL", "GATELOG_REDIS_KEY",
  "GATELOG_BATCH_MAX", "GATELOG_TLS_MIN_VERSION", "GATELOG_URL", "GATELOG_CA_FILE", "GATELOG_GZIP",
  "GATELOG_NATS_URL", "GATELOG_NATS_CA", "GATELOG_NATS_CERT", "GATELOG_NATS_KEY", "GATELOG_NATS_SUBJECT" }

-- A CA, a server certificate for localhost and 127.0.0.1, a client
-- certificate, and another CA that signed neither.
local function make_certs(dir)
  local sh = ([[
set -e
cd %s
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
key ca.key; key other.key; key server.key; key client.key
openssl req -x509 -key ca.key -out ca.pem -days 2 -subj /CN=gatelog-test-ca 2>/dev/null
openssl req -x509 -key other.key -out other.pem -days 2 -subj /CN=gatelog-other-ca 2>/dev/null
openssl req -new -key server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out server.pem -extfile server.ext 2>/dev/null
openssl req -new -key client.key -out client.csr -subj /CN=gatelog-client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem -extfile client.ext 2>/dev/null
mkdir cadir && cp ca.pem cadir/ && openssl rehash cadir 2>/dev/null || c_rehash cadir >/dev/null
]]):format(dir)
  assert(os.execute(sh) == 0, "openssl could not make the certificates")
end

local function setenv(t)
  for k, v in pairs(t) do servers.setenv(k, v) end
end

local function new(script, logs)
  return assert(gatelog.new{ script = S.src .. "/scripts/" .. script, access_log = false, lua_path = LUA_PATH,
    retry_max = 0.5, log = function(_, m) logs[#logs + 1] = m end })
end

-- n TCP sessions, ended and flushed: their ids, in order.
local function sessions(gl, n)
  local ids = {}
  for i = 1, n do
    ids[i] = gl:tcp_start(i, "203.0.113.9:" .. (41000 + i), "10.0.0.5:443")
    gl:tcp_end(ids[i])
  end
  assert(gl:flush())
  return ids
end

local function any(logs, text)
  for _, m in ipairs(logs) do
    if m:find(text, 1, true) then return m end
  end
end

describe("TLS", function()
  local dir, syslog_port, redis_port, redis_tls_port, https_port, gl
  local function ids_in(path)
    local got = {}
    for id in (servers.read(path) or ""):gmatch('sessionId="(%x+)"') do got[#got + 1] = id end
    return got
  end
  local function redis_ids(key)
    local p = assert(io.popen(("redis-cli -h 127.0.0.1 -p %d --raw XRANGE %s - +"):format(redis_port, key)))
    local out, got, take = p:read("*a"), {}, false
    p:close()
    for line in out:gmatch("[^\n]+") do
      if take then got[#got + 1] = line end
      take = line == "sessionId"
    end
    return got
  end

  setup(function()
    dir = servers.tmpdir()
    make_certs(dir)
    local conf = dir .. "/rsyslog.conf"
    local f = assert(io.open(conf, "w"))
    f:write(([[
global(workDirectory="%s" DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="%s/ca.pem"
       DefaultNetstreamDriverCertFile="%s/server.pem" DefaultNetstreamDriverKeyFile="%s/server.key")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="%s/tls.port" ruleset="tls")
ruleset(name="tls") { action(type="omfile" file="%s/tls.log" template="RSYSLOG_SyslogProtocol23Format") }
]]):format(dir, dir, dir, dir, dir, dir))
    f:close()
    servers.spawn(("rsyslogd -n -f %s -i %s/rsyslogd.pid"):format(conf, dir), dir .. "/rsyslog-spawn.pid",
      dir .. "/rsyslogd.out")
    assert(servers.wait(function() return tonumber(servers.read(dir .. "/tls.port") or "") end, 20),
      "rsyslogd did not start: " .. tostring(servers.read(dir .. "/rsyslogd.out")))
    syslog_port = tonumber(servers.read(dir .. "/tls.port"))
    -- An HTTPS receiver: socat's TLS listener running a handler that
    -- appends each request's body to https.ndjson and answers 200.
    local handler = assert(io.open(dir .. "/handler.sh", "w"))
    handler:write(([[#!/bin/bash
len=0
while IFS= read -r line; do
  line=${line%%$'\r'}
  [ -z "$line" ] && break
  case "${line,,}" in content-length:*) len=${line#*: } ;; esac
done
head -c "$len" >>%s/https.ndjson
printf 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
]]):format(dir))
    handler:close()
    https_port = servers.free_port()
    servers.spawn(("socat OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s/server.pem,key=%s/server.key,verify=0 " ..
      "EXEC:'bash %s/handler.sh'"):format(https_port, dir, dir, dir), dir .. "/socat.pid", dir .. "/socat.out")
    assert(servers.wait(function()
      return os.execute(("openssl s_client -connect 127.0.0.1:%d </dev/null >/dev/null 2>&1"):format(https_port)) == 0
    end, 10), "socat did not start: " .. tostring(servers.read(dir .. "/socat.out")))
    redis_port, redis_tls_port = servers.redis(dir, ("--tls-port %%d --tls-cert-file %s/server.pem " ..
      "--tls-key-file %s/server.key --tls-ca-cert-file %s/ca.pem"):format(dir, dir, dir), 1)
  end)
  teardown(function()
    servers.kill(dir .. "/rsyslogd.pid")
    servers.kill(dir .. "/rsyslog-spawn.pid")
    servers.kill(dir .. "/redis.pid")
    servers.kill(dir .. "/socat.pid")
    os.execute("rm -rf " .. dir)
  end)
  after_each(function()
    if gl then gl:close(0.5) end
    gl = nil
    for _, k in ipairs(VARS) do servers.unsetenv(k) end
  end)

  it("syslog over TLS (RFC 5425) to rsyslogd: every record once, verified against the CA", function()
    setenv{ GATELOG_SYSLOG_TRANSPORT = "tls", GATELOG_SYSLOG_PORT = tostring(syslog_port),
      GATELOG_TLS_CA_FILE = dir .. "/ca.pem", GATELOG_BATCH_MAX = "7" }
    local logs = {}
    gl = new("syslog.lua", logs)
    local ids = sessions(gl, 20)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().records_sent == 20 end, 15),
      table.concat(logs, "\n"))
    assert.truthy(servers.wait(function() return #ids_in(dir .. "/tls.log") >= 20 end, 10))
    assert.same(ids, ids_in(dir .. "/tls.log"))
  end)

  it("a wrong CA fails with a clear, counted error; the batch waits and goes after a reload with the right CA", function()
    setenv{ GATELOG_SYSLOG_TRANSPORT = "tls", GATELOG_SYSLOG_PORT = tostring(syslog_port),
      GATELOG_TLS_CA_FILE = dir .. "/other.pem" }
    local logs = {}
    gl = new("syslog.lua", logs)
    local before = #ids_in(dir .. "/tls.log")
    local ids = sessions(gl, 5)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 2 end, 15))
    local st = gl:stats()
    assert.equal(0, st.records_sent)
    assert.equal(5, st.records_queued)
    assert.truthy(any(logs, "does not verify"), table.concat(logs, "\n"))
    servers.setenv("GATELOG_TLS_CA_DIR", dir .. "/cadir") -- the directory form this time
    servers.unsetenv("GATELOG_TLS_CA_FILE")
    assert(gl:reload())
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().records_sent == 5 end, 15),
      table.concat(logs, "\n"))
    assert.truthy(servers.wait(function() return #ids_in(dir .. "/tls.log") >= before + 5 end, 10))
    local got, after = ids_in(dir .. "/tls.log"), {}
    for i = before + 1, #got do after[#after + 1] = got[i] end
    assert.same(ids, after)
  end)

  it("a name the certificate does not carry fails the same way", function()
    setenv{ GATELOG_SYSLOG_TRANSPORT = "tls", GATELOG_SYSLOG_PORT = tostring(syslog_port),
      GATELOG_TLS_CA_FILE = dir .. "/ca.pem", GATELOG_TLS_SERVER_NAME = "wrong.example" }
    local logs = {}
    gl = new("syslog.lua", logs)
    sessions(gl, 1)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 1 end, 15))
    assert.equal(0, gl:stats().records_sent)
    assert.truthy(any(logs, "wrong.example"), table.concat(logs, "\n"))
    assert.truthy(any(logs, "does not verify"), table.concat(logs, "\n"))
  end)

  it("an HTTP script over https with GATELOG_CA_FILE: delivered; with another CA: refused, counted", function()
    setenv{ GATELOG_URL = ("https://localhost:%d/ingest"):format(https_port), GATELOG_CA_FILE = dir .. "/other.pem",
      GATELOG_GZIP = "off" }
    local logs = {}
    gl = new("http-ndjson.lua", logs)
    local ids = sessions(gl, 3)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 1 end, 15))
    assert.equal(0, gl:stats().records_sent)
    servers.setenv("GATELOG_CA_FILE", dir .. "/ca.pem")
    assert(gl:reload())
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().records_sent == 3 end, 15),
      table.concat(logs, "\n"))
    local got = {}
    for line in (servers.read(dir .. "/https.ndjson") or ""):gmatch("[^\n]+") do
      got[#got + 1] = require("cjson").decode(line).sessionId
    end
    assert.same(ids, got)
  end)

  it("rediss:// to redis-server's tls-port with a client certificate: every record once", function()
    setenv{ GATELOG_REDIS_URL = ("rediss://localhost:%d"):format(redis_tls_port), GATELOG_REDIS_KEY = "tls",
      GATELOG_TLS_CA_FILE = dir .. "/ca.pem", GATELOG_TLS_CERT = dir .. "/client.pem",
      GATELOG_TLS_KEY = dir .. "/client.key", GATELOG_TLS_MIN_VERSION = "1.3", GATELOG_BATCH_MAX = "4" }
    local logs = {}
    gl = new("redis.lua", logs)
    local ids = sessions(gl, 10)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().records_sent == 10 end, 15),
      table.concat(logs, "\n"))
    assert.same(ids, redis_ids("tls"))
  end)

  it("rediss:// without the client certificate redis asks for fails, counted, and delivers nothing", function()
    setenv{ GATELOG_REDIS_URL = ("rediss://127.0.0.1:%d"):format(redis_tls_port), GATELOG_REDIS_KEY = "nocert",
      GATELOG_TLS_CA_FILE = dir .. "/ca.pem" }
    local logs = {}
    gl = new("redis.lua", logs)
    sessions(gl, 2)
    assert.truthy(servers.run_until(gl, {}, function() return gl:stats().batches_failed >= 1 end, 15))
    assert.equal(0, gl:stats().records_sent)
    assert.same({}, redis_ids("nocert"))
  end)

  -- A NATS server that asks for TLS and a client certificate. No stream
  -- takes the subject: an answer of "no responders" shows the connection
  -- was made, a certificate refused shows it was not.
  it("nats over TLS with a client certificate: connected (the server answers); another CA: refused, counted", function()
    if not servers.have("nats-server") then return pending("nats-server is not installed") end
    local N = require "nats_support"
    local srv = N.server(("--tlsverify --tlscert %s/server.pem --tlskey %s/server.key --tlscacert %s/ca.pem")
      :format(dir, dir, dir))
    local function try(ca)
      setenv{ GATELOG_NATS_URL = ("tls://127.0.0.1:%d"):format(srv.port), GATELOG_NATS_CA = ca,
        GATELOG_NATS_CERT = dir .. "/client.pem", GATELOG_NATS_KEY = dir .. "/client.key",
        GATELOG_NATS_SUBJECT = "tls.x" }
      local logs = {}
      gl = new("nats.lua", logs)
      sessions(gl, 2)
      local failed = servers.run_until(gl, {}, function() return gl:stats().nats_errors >= 1 end, 15)
      gl:close(0.5)
      gl = nil
      return failed, logs
    end
    local ok1, logs1 = try(dir .. "/ca.pem")
    local ok2, logs2 = try(dir .. "/other.pem")
    srv:stop()
    os.execute("rm -rf " .. srv.dir)
    assert.truthy(ok1)
    assert.truthy(any(logs1, "no stream takes subject tls.x (no responders)"))
    assert.truthy(ok2)
    assert.truthy(any(logs2, "nats: connect to tls://127.0.0.1:" .. srv.port))
    assert.is_nil(any(logs2, "no responders"))
  end)
end)
