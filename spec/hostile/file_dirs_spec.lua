-- core.file_append writes, and with rotation renames, only in the
-- directories the operator allows (file_dirs; by default the script's and
-- that of $GATELOG_OUTPUT), resolved: no "..", no symbolic link out.
local H = require "hostile.harness"

local function writes(targets, opts)
  local list = {}
  for i, t in ipairs(targets) do list[i] = ("%q"):format(t.path) end
  local path = H.script(([[
local core = require "gatelog.core"
local targets = { %s }
local send = policy.send
local asked = false
policy.send = function(b, done)
  if not asked then
    asked = true
    for _, t in ipairs(targets) do
      core.file_append(t, "x\n", function(ok, err) print("append " .. t .. ": " .. tostring(err or ok)) end,
                       { max_bytes = 1, keep = 1 })
    end
  end
  return send(b, done)
end
]]):format(table.concat(list, ", ")))
  opts = opts or {}
  opts.settle = function(logs) return #H.lines(logs, "^script: append ") == #targets end
  local _, _, logs = H.run(path, opts)
  local got = {}
  for _, t in ipairs(targets) do
    local line = H.lines(logs, "append " .. t.path:gsub("%p", "%%%0") .. ":")[1]
    got[#got + 1] = line and (line:match(": (E[%u_]+): ") or line:match(": (true)$")) or "no answer"
  end
  return got
end

local function exists(p)
  local f = io.open(p)
  if f then f:close() end
  return f ~= nil
end

describe("file_append", function()
  local outside = os.tmpname()
  os.remove(outside)
  assert(os.execute("mkdir -p " .. outside) == 0)
  H.write(outside .. "/victim", "keep me\n")
  assert(os.execute("ln -sfn " .. outside .. " " .. H.dir .. "/link") == 0)

  it("writes in the script's directory and refuses any other, renaming nothing there", function()
    local got = writes({
      { path = H.dir .. "/out.ndjson" },
      { path = H.dir .. "/out.ndjson" }, -- rotated: out.ndjson.1
      { path = outside .. "/victim" },
      { path = H.dir .. "/../" .. outside:match("[^/]+$") .. "/victim" },
      { path = H.dir .. "/link/victim" },
      { path = "/etc/passwd" },
    })
    assert.same({ "true", "true", "EACCES", "EACCES", "EACCES", "EACCES" }, got)
    assert.is_true(exists(H.dir .. "/out.ndjson.1"))
    assert.is_true(exists(outside .. "/victim"))
    assert.is_false(exists(outside .. "/victim.1"))
  end)

  it("writes where file_dirs says, and only there", function()
    local got = writes({ { path = outside .. "/new" }, { path = H.dir .. "/out2.ndjson" } },
                       { file_dirs = "/nonexistent:" .. outside })
    assert.same({ "true", "EACCES" }, got)
  end)

  it("does not follow a symbolic link at the file itself", function()
    assert(os.execute("ln -sf " .. outside .. "/victim " .. H.dir .. "/points-out") == 0)
    local got = writes({ { path = H.dir .. "/points-out" } })
    assert.same({ "ELOOP" }, got)
    local f = assert(io.open(outside .. "/victim"))
    assert.equal("keep me\n", f:read("*a"))
    f:close()
  end)
end)
