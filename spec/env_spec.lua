-- gatelog.env, the one module the ready scripts read the environment
-- with: each reader's accepted forms, and for anything else an error that
-- names the variable and the value.
local env = require "gatelog.env"
local servers = require "servers"

local VAR = "GATELOG_ENV_SPEC"

local function with(value, fn, ...)
  servers.setenv(VAR, value)
  local ok, res = pcall(fn, VAR, ...)
  servers.unsetenv(VAR)
  return ok, res
end

local function refused(value, fn, ...)
  local ok, err = with(value, fn, ...)
  assert.is_false(ok, "accepted " .. value)
  assert.truthy(err:find(VAR, 1, true), err)
  assert.truthy(err:find(value, 1, true), err)
  return err
end

describe("gatelog.env", function()
  after_each(function() servers.unsetenv(VAR) end)

  it("gives the default for an unset or empty variable", function()
    assert.equal("d", env.string(VAR, "d"))
    servers.setenv(VAR, "")
    assert.equal(7, env.integer(VAR, 7))
    assert.is_true(env.boolean(VAR, true))
  end)

  it("booleans: 1/0 true/false yes/no on/off in any case, nothing else", function()
    for _, v in ipairs({ "1", "true", "TRUE", "yes", "On" }) do assert.is_true(select(2, with(v, env.boolean, false))) end
    for _, v in ipairs({ "0", "false", "No", "off" }) do assert.is_false(select(2, with(v, env.boolean, true))) end
    for _, v in ipairs({ "2", "y", "enabled", "truee" }) do refused(v, env.boolean, false) end
  end)

  it("ports: 1 to 65535 in decimal", function()
    assert.equal(6514, select(2, with("6514", env.port, 514)))
    for _, v in ipairs({ "0", "65536", "abc", "-1", "514x", "1.5" }) do refused(v, env.port, 514) end
  end)

  it("integers and numbers within their range", function()
    assert.equal(-3, select(2, with("-3", env.integer, 0, -10, 10)))
    assert.equal(0.25, select(2, with("0.25", env.number, 1, 0.001, 10)))
    assert.truthy(refused("11", env.integer, 0, -10, 10):find("out of range", 1, true))
    refused("1e3", env.integer, 0)
    refused("fast", env.number, 1)
    refused("0", env.number, 1, 0.001, 10)
  end)

  it("one of a list of choices", function()
    assert.equal("udp", select(2, with("udp", env.oneof, "tcp", { "tcp", "udp" })))
    assert.truthy(refused("sctp", env.oneof, "tcp", { "tcp", "udp" }):find("tcp, udp", 1, true))
  end)

  it("lists: comma-separated, trimmed, empty items skipped", function()
    assert.same({ "a", "b c", "d" }, select(2, with(" a, b c ,,d ", env.list, {})))
  end)

  it("key=value pairs, percent-decoded (OTEL_RESOURCE_ATTRIBUTES' form)", function()
    assert.same({ ["service.name"] = "edge 1", ["deployment.environment"] = "prod,eu" },
      select(2, with("service.name=edge%201, deployment.environment = prod%2Ceu", env.pairs)))
    assert.same({ Authorization = "Bearer a=b" }, select(2, with("Authorization=Bearer a=b", env.pairs)))
    refused("a=1,b", env.pairs)
    refused("=1", env.pairs)
    refused("a=%zz", env.pairs)
  end)

  it("URLs: a base URL gets the sink's path, a full one is kept", function()
    assert.equal("http://h:3100/loki/api/v1/push", select(2, with("http://h:3100", env.url, nil, "/loki/api/v1/push")))
    assert.equal("https://h/_bulk", select(2, with("https://h/", env.url, nil, "/_bulk")))
    assert.equal("http://h/x/_bulk", select(2, with("http://h/x/_bulk", env.url, nil, "/_bulk")))
    assert.equal("http://d:9200/_bulk", env.url(VAR, "http://d:9200", "/_bulk"))
    refused("h:3100", env.url, nil, "/x")
    refused("ftp://h/", env.url)
    assert.equal("http://h/otlp/v1/logs", env.join("http://h/otlp/", "/v1/logs"))
  end)

  it("core batching keys from GATELOG_FLUSH_INTERVAL and GATELOG_BATCH_MAX", function()
    assert.same({ flush_interval = 2, batch_max = 500 }, env.core{ flush_interval = 2, batch_max = 500 })
    servers.setenv("GATELOG_FLUSH_INTERVAL", "0.5")
    servers.setenv("GATELOG_BATCH_MAX", "10")
    local c = env.core{ flush_interval = 2, batch_max = 500 }
    servers.setenv("GATELOG_BATCH_MAX", "0")
    local ok, err = pcall(env.core, { flush_interval = 2, batch_max = 500 })
    servers.unsetenv("GATELOG_FLUSH_INTERVAL")
    servers.unsetenv("GATELOG_BATCH_MAX")
    assert.same({ flush_interval = 0.5, batch_max = 10 }, c)
    assert.is_false(ok)
    assert.truthy(err:find('GATELOG_BATCH_MAX="0"', 1, true), err)
  end)

  it("TLS settings: none unless wanted, verification on by default, cert and key together", function()
    assert.is_nil(env.tls(false))
    local t = env.tls(true)
    assert.is_true(t.verify)
    assert.equal("1.2", t.min_version)
    servers.setenv("GATELOG_TLS_CERT", "/c.pem")
    local ok, err = pcall(env.tls, true)
    servers.unsetenv("GATELOG_TLS_CERT")
    assert.is_false(ok)
    assert.truthy(err:find("GATELOG_TLS_KEY", 1, true), err)
    servers.setenv("GATELOG_TLS_MIN_VERSION", "1.0")
    ok, err = pcall(env.tls, true)
    servers.unsetenv("GATELOG_TLS_MIN_VERSION")
    assert.is_false(ok)
    assert.truthy(err:find('GATELOG_TLS_MIN_VERSION="1.0"', 1, true), err)
  end)
end)
