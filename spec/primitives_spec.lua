-- The I/O primitives of require("gatelog.core"): timer, tcp, udp, http,
-- gzip/zlib, nats. Each test runs a script whose send starts the I/O against a
-- server on loopback and reports what it saw through a host sender.
local gatelog = require "gatelog"
local cjson = require "cjson"
local socket = require "socket"
local zlib = require "zlib"
local S = require "support"
local servers = require "servers"

local dir
local function new(body, vars, opts)
  body = body:gsub("%%(%u+)%%", function(k) return tostring(vars and vars[k]) end)
  local path = dir .. "/script.lua"
  local f = assert(io.open(path, "w"))
  f:write([[
local core = require "gatelog.core"
local cjson = require "cjson"
local function report(t) core.senders.report(cjson.encode(t), function() end) end
local started = false
return { send = function(batch, done)
  done(true)
  if started then return end
  started = true
]] .. body .. "\nend }\n")
  f:close()
  opts = opts or {}
  opts.script = path
  opts.access_log = false
  opts.lua_path = S.src .. "/lua/?.lua;" .. S.src .. "/lua/?/init.lua"
  local logs = {}
  opts.log = opts.log or function(level, msg) logs[#logs + 1] = level .. ": " .. msg end
  local gl = assert(gatelog.new(opts))
  local reports = {}
  assert(gl:register_sender("report", function(payload, reply)
    reports[#reports + 1] = cjson.decode(payload)
    reply(true)
  end))
  assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
  assert(gl:flush())
  return gl, reports, logs
end

local function find(reports, what)
  for _, r in ipairs(reports) do if r.what == what then return r end end
end

describe("core primitives", function()
  local gl, sv
  before_each(function()
    dir = servers.tmpdir()
    sv = {}
  end)
  after_each(function()
    if gl then gl:close(0.2) end
    gl = nil
    for _, s in ipairs(sv) do s:close() end
    os.execute("rm -rf " .. dir)
  end)

  it("timer: fires once after its delay; stop cancels", function()
    local reports
    gl, reports = new([[
      local t0 = core.now()
      core.timer(0.1, function() report{ what = "fired", after = core.now() - t0 } end)
      local t = core.timer(0.05, function() report{ what = "stopped one fired" } end)
      report{ what = "stop", first = t:stop(), second = t:stop() }
    ]])
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "fired") end, 5))
    gl:run(0.1)
    assert.is_true(find(reports, "stop").first)
    assert.is_false(find(reports, "stop").second)
    assert.is_nil(find(reports, "stopped one fired"))
    assert.is_true(find(reports, "fired").after >= 0.099)
  end)

  it("tcp: connects, writes, reads the peer's answer, sees EOF, closes", function()
    local srv = assert(socket.bind("127.0.0.1", 0))
    srv:settimeout(0)
    local _, port = srv:getsockname()
    local peer, got = nil, ""
    local server = { step = function()
      if not peer then peer = srv:accept() if peer then peer:settimeout(0) end end
      if peer then
        local d, _, part = peer:receive(100)
        got = got .. (d or part or "")
        if got == "ping\n" then peer:send("pong\n") peer:close() got = got .. "answered" end
      end
    end, close = function() srv:close() end }
    sv[1] = server
    local reports
    gl, reports = new([[
      core.tcp.connect("localhost", %PORT%, function(c, err)
        if not c then return report{ what = "error", err = err } end
        local seen = {}
        c:read(function(data, rerr)
          if data then seen[#seen + 1] = data return end
          report{ what = "read", data = table.concat(seen), ended = rerr }
          c:close()
          report{ what = "closed", again = c:close(), write = select(2, pcall(c.write, c, "x")) }
        end)
        c:write("ping\n", function(ok, werr) report{ what = "written", ok = ok, err = werr } end)
      end)
    ]], { PORT = port })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "closed") end, 10))
    assert.is_nil(find(reports, "error"))
    assert.is_true(find(reports, "written").ok)
    assert.equal("pong\n", find(reports, "read").data)
    assert.equal("EOF", find(reports, "read").ended)
    assert.is_false(find(reports, "closed").again)
    assert.matches("closed", find(reports, "closed").write)
  end)

  it("tcp: a refused connect comes to the callback as ECONNREFUSED", function()
    local port = servers.free_port()
    local reports
    gl, reports = new([[
      core.tcp.connect("127.0.0.1", %PORT%, function(c, err) report{ what = "connect", ok = c ~= nil, err = err } end)
    ]], { PORT = port })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "connect") end, 10))
    assert.is_false(find(reports, "connect").ok)
    assert.matches("^ECONNREFUSED: ", find(reports, "connect").err)
  end)

  it("udp: each string of an array is one datagram", function()
    local u = assert(socket.udp())
    assert(u:setsockname("127.0.0.1", 0))
    u:settimeout(0)
    local _, port = u:getsockname()
    local got = {}
    sv[1] = { step = function() local d = u:receive() if d then got[#got + 1] = d end end,
              close = function() u:close() end }
    local reports
    gl, reports = new([[
      core.udp.send("127.0.0.1", %PORT%, { "one", "two", "three" }, function(ok, err) report{ what = "sent", ok = ok, err = err } end)
    ]], { PORT = port })
    assert.truthy(servers.run_until(gl, sv, function() return #got == 3 and find(reports, "sent") end, 10))
    assert.same({ "one", "two", "three" }, got)
    assert.is_true(find(reports, "sent").ok)
  end)

  it("http: a request returns status, lowercased headers and body", function()
    local c = servers.http()
    sv[1] = c
    c.respond = function(req)
      if req.path == "/missing" then return 404, {}, "no" end
      return 201, { ["X-Answer"] = "42" }, "made " .. req.body
    end
    local reports
    gl, reports = new([[
      core.http.request({ url = "%URL%/items?x=1", method = "PUT", body = "it", headers = { ["X-Test"] = "yes" } }, function(res, err)
        report{ what = "put", status = res and res.status, answer = res and res.headers["x-answer"], body = res and res.body, err = err }
        core.http.request({ url = "%URL%/missing" }, function(res2) report{ what = "get", status = res2.status, body = res2.body } end)
      end)
    ]], { URL = c.url })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "get") end, 10))
    local put = find(reports, "put")
    assert.is_nil(put.err)
    assert.equal(201, put.status)
    assert.equal("42", put.answer)
    assert.equal("made it", put.body)
    assert.equal("PUT", c.requests[1].method)
    assert.equal("/items?x=1", c.requests[1].path)
    assert.equal("yes", c.requests[1].headers["x-test"])
    assert.equal(404, find(reports, "get").status)
    assert.equal("GET", c.requests[2].method)
  end)

  it("http: follows redirects when asked, and goes through a proxy", function()
    local c = servers.http()
    sv[1] = c
    c.respond = function(req)
      if req.path == "/old" then return 307, { Location = c.url .. "/new" }, "" end
      return 200, {}, "at " .. req.path
    end
    local reports
    gl, reports = new([[
      core.http.request({ url = "%URL%/old" }, function(res) report{ what = "nofollow", status = res.status } end)
      core.http.request({ url = "%URL%/old", follow = true }, function(res) report{ what = "follow", status = res.status, body = res.body } end)
      core.http.request({ url = "http://collector.invalid/via", proxy = "%URL%" }, function(res, err)
        report{ what = "proxy", body = res and res.body, err = err } end)
    ]], { URL = c.url })
    assert.truthy(servers.run_until(gl, sv, function()
      return find(reports, "nofollow") and find(reports, "follow") and find(reports, "proxy") end, 10))
    assert.equal(307, find(reports, "nofollow").status)
    assert.equal(200, find(reports, "follow").status)
    assert.equal("at /new", find(reports, "follow").body)
    -- A proxy gets the whole URL in the request line.
    assert.equal("at http://collector.invalid/via", find(reports, "proxy").body)
  end)

  it("https: the certificate is verified by default; ca names the one to trust", function()
    if not servers.have("openssl") then
      pending("openssl is not installed: skipped")
      return
    end
    local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
    assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 " ..
      "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1"):format(key, cert)) == 0)
    local port = servers.free_port()
    servers.spawn(("openssl s_server -accept 127.0.0.1:%d -cert %s -key %s -www -quiet"):format(port, cert, key),
      dir .. "/s_server.pid", dir .. "/s_server.out")
    local up = servers.wait(function()
      local s = socket.connect("127.0.0.1", port)
      if s then s:close() end
      return s ~= nil
    end, 10)
    assert.truthy(up, "openssl s_server did not start")
    local reports
    gl, reports = new([[
      core.http.request({ url = "https://127.0.0.1:%PORT%/" }, function(res, err) report{ what = "default", err = err } end)
      core.http.request({ url = "https://127.0.0.1:%PORT%/", ca = "%CA%" }, function(res, err)
        report{ what = "ca", status = res and res.status, err = err } end)
    ]], { PORT = port, CA = cert })
    local done = servers.run_until(gl, sv, function() return find(reports, "default") and find(reports, "ca") end, 20)
    servers.kill(dir .. "/s_server.pid")
    assert.truthy(done)
    assert.matches("^ETLS: ", find(reports, "default").err)
    assert.is_nil(find(reports, "ca").err)
    assert.equal(200, find(reports, "ca").status)
  end)

  it("http: errors are ENAME strings (refused, timed out)", function()
    local silent = servers.tcp_sink() -- accepts, never answers
    sv[1] = silent
    local reports
    gl, reports = new([[
      core.http.request({ url = "http://127.0.0.1:%FREE%/" }, function(res, err) report{ what = "refused", err = err } end)
      core.http.request({ url = "http://127.0.0.1:%SILENT%/", timeout = 0.3 }, function(res, err) report{ what = "timeout", err = err } end)
    ]], { FREE = servers.free_port(), SILENT = silent.port })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "refused") and find(reports, "timeout") end, 10))
    assert.matches("^ECONNREFUSED: ", find(reports, "refused").err)
    assert.matches("^ETIMEDOUT: ", find(reports, "timeout").err)
  end)

  it("gzip and zlib compress off the loop thread to what zlib reads back", function()
    local reports
    gl, reports = new([[
      local text = string.rep("gatelog ", 1000)
      core.gzip(text, function(z) report{ what = "gzip", z = z } end)
      core.zlib(text, function(z) report{ what = "zlib", z = z } end, 9)
    ]])
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "gzip") and find(reports, "zlib") end, 10))
    local want = string.rep("gatelog ", 1000)
    local gz = find(reports, "gzip").z
    assert.equal("\31\139", gz:sub(1, 2)) -- the gzip magic
    assert.equal(want, (zlib.inflate(31)(gz)))
    assert.equal(want, S.inflate(find(reports, "zlib").z))
  end)

  it("bad arguments raise at once with a clear message", function()
    local reports
    gl, reports = new([[
      local function msg(f, ...) local ok, err = pcall(f, ...) return ok and "no error" or err end
      report{ what = "errors",
        timer = msg(core.timer, -1, function() end),
        host = msg(core.tcp.connect, "", 80, function() end),
        port = msg(core.tcp.connect, "127.0.0.1", 70000, function() end),
        cb = msg(core.tcp.connect, "127.0.0.1", 80),
        big = msg(core.udp.send, "127.0.0.1", 9, string.rep("x", 70000)),
        url = msg(core.http.request, { url = "ftp://example.org/" }, function() end),
        header = msg(core.http.request, { url = "http://127.0.0.1/", headers = { ["X"] = "a\r\nb" } }, function() end),
        level = msg(core.gzip, "x", function() end, 11),
      }
    ]])
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "errors") end, 5))
    local e = find(reports, "errors")
    assert.matches("seconds must be from 0", e.timer)
    assert.matches("not a host name", e.host)
    assert.matches("port must be an integer", e.port)
    assert.matches("function expected", e.cb)
    assert.matches("larger than 65507", e.big)
    assert.matches("not an http or https URL", e.url)
    assert.matches("bad header", e.header)
    assert.matches("level must be from 0 to 9", e.level)
  end)

  it("a raising callback is counted and logged, and the core goes on", function()
    local reports, logs
    gl, reports, logs = new([[
      core.timer(0, function() error("boom in a callback") end)
      core.timer(0.05, function() report{ what = "after" } end)
    ]])
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "after") end, 5))
    assert.equal(1, gl:stats().callback_errors)
    local said = false
    for _, l in ipairs(logs) do said = said or l:find("boom in a callback", 1, true) ~= nil end
    assert.is_true(said)
  end)

  it("I/O cannot start while the script loads", function()
    local path = dir .. "/load.lua"
    local f = assert(io.open(path, "w"))
    f:write('local core = require "gatelog.core"\ncore.timer(1, function() end)\nreturn { send = function(b, d) d(true) end }\n')
    f:close()
    local g, err = gatelog.new{ script = path, access_log = false }
    assert.is_nil(g)
    assert.matches("cannot start while the script loads", err)
  end)

  it("close ends pending I/O (a connection, a timer, a request) and leaves no handle", function()
    local silent = servers.tcp_sink()
    sv[1] = silent
    local reports
    gl, reports = new([[
      core.timer(3600, function() end)
      core.http.request({ url = "http://127.0.0.1:%PORT%/", timeout = 3600 }, function() report{ what = "http answered" } end)
      core.tcp.connect("127.0.0.1", %PORT%, function(c) report{ what = "connected" } c:read(function() end) end)
    ]], { PORT = silent.port })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "connected") and silent.accepted == 2 end, 10))
    local st, loop_closed = gl:close(0.2)
    gl = nil
    assert.is_true(loop_closed)
    assert.equal(0, st.callback_errors)
    assert.is_nil(find(reports, "http answered"))
    -- The sink sees both connections closed.
    assert.truthy(servers.wait(function() silent:step() return #silent.conns == 0 end, 5))
  end)

  it("a reload closes the old script's idle connection with its state", function()
    local sink = servers.tcp_sink()
    sv[1] = sink
    local reports
    gl, reports = new([[
      core.tcp.connect("127.0.0.1", %PORT%, function(c) KEEP = c report{ what = "connected" } end)
    ]], { PORT = sink.port })
    assert.truthy(servers.run_until(gl, sv, function() return find(reports, "connected") and #sink.conns == 1 end, 10))
    assert.equal(1, gl:stats().script_states)
    assert(gl:reload())
    assert.truthy(servers.run_until(gl, sv, function() return #sink.conns == 0 end, 10))
    assert.equal(1, gl:stats().script_states)
  end)

  it("nats: bad arguments refused at once, duplicates counted, a publish waiting at close answered", function()
    if not servers.have("nats-server") then return pending("nats-server is not installed") end
    local N = require "nats_support"
    local srv = N.server()
    local cl = assert(N.client(srv.port))
    cl:create_stream("PRIM", { "glprim.>" })
    local reports
    gl, reports = new([[
      local _, e1 = pcall(core.nats.connect, { servers = 5 })
      local _, e2 = pcall(core.nats.connect, { servers = "%URL%", ack_timeout = -1 })
      local nc = core.nats.connect{ servers = "%URL%", ack_timeout = 2 }
      local _, e3 = pcall(nc.publish, nc, "glprim.a", {}, "id", function() end)
      local _, e4 = pcall(nc.publish, nc, "two words", { "x" }, "id", function() end)
      report{ what = "refused", e1 = e1, e2 = e2, e3 = e3, e4 = e4 }
      nc:publish("glprim.a", { "one", "two" }, { "id-1", "id-2" }, function(ok, dups)
        report{ what = "acked", ok = ok, dups = dups, st = nc:stats() }
        nc:publish({ "glprim.a", "glprim.b" }, { "one", "two" }, { "id-1", "id-2" }, function(ok2, dups2)
          report{ what = "again", ok = ok2, dups = dups2, st = nc:stats() }
          nc:publish("glprim.c", { "three" }, "id-3", function(ok3, err3)
            report{ what = "closed", ok = ok3 or false, err = err3 }
          end)
          nc:close()
        end)
      end)
    ]], { URL = srv.url })
    local ok = servers.run_until(gl, sv, function() return find(reports, "closed") end, 20)
    cl:close()
    srv:stop()
    os.execute("rm -rf " .. srv.dir)
    assert.truthy(ok)
    local refused = find(reports, "refused")
    assert.matches("servers must be a string or a list", refused.e1)
    assert.matches("ack_timeout must be a number", refused.e2)
    assert.matches("no message to publish", refused.e3)
    assert.matches("is not one NATS can publish to", refused.e4)
    local acked, again = find(reports, "acked"), find(reports, "again")
    assert.is_true(acked.ok)
    assert.equal(0, acked.dups)
    assert.equal(2, acked.st.acked)
    assert.equal(srv.url, acked.st.connected_url)
    assert.is_true(again.ok)
    assert.equal(2, again.dups)
    assert.equal(2, again.st.duplicates)
    assert.is_false(find(reports, "closed").ok)
    assert.equal("nats: connection closed", find(reports, "closed").err)
  end)
end)
