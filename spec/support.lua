-- Helpers for the specs: a core with a capturing host sender, payload
-- decoding that does not use gatelog's own code (lua-zlib and a Lua base64
-- decoder), and a loop runner that waits for a condition.
local gatelog = require "gatelog"
local zlib = require "zlib"
local cjson = require "cjson"

local M = {}

M.src = os.getenv("GATELOG_SOURCE_DIR") or "."

function M.fixture(name)
  return M.src .. "/spec/fixtures/" .. name
end

local b64 = {}
do
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do b64[chars:byte(i)] = i - 1 end
end

function M.b64decode(s)
  assert(#s % 4 == 0, "base64 length is not a multiple of 4")
  local out = {}
  for i = 1, #s, 4 do
    local a, b, c, d = s:byte(i, i + 3)
    local va, vb = b64[a], b64[b]
    local vc = c ~= 61 and b64[c] or 0
    local vd = d ~= 61 and b64[d] or 0
    assert(va and vb and vc and vd, "not base64")
    local n = va * 262144 + vb * 4096 + vc * 64 + vd
    out[#out + 1] = string.char(math.floor(n / 65536) % 256)
    if c ~= 61 then out[#out + 1] = string.char(math.floor(n / 256) % 256) end
    if d ~= 61 then out[#out + 1] = string.char(n % 256) end
  end
  return table.concat(out)
end

function M.inflate(z)
  local text, eof = zlib.inflate()(z)
  assert(eof, "zlib stream did not end")
  return text
end

-- payload -> JSON text -> records
function M.payload_json(payload)
  return M.inflate(M.b64decode(payload))
end

function M.decode(payload)
  return cjson.decode(M.payload_json(payload))
end

-- Seconds since the epoch of an RFC3339Nano UTC time.
function M.parse_time(s)
  local y, mo, d, h, mi, sec, frac = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)Z$")
  assert(y, "not an RFC3339 UTC time: " .. tostring(s))
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (proleptic Gregorian), independent of os.time's zone
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) + (tonumber(frac ~= "" and frac or "0") or 0)
end

-- Run the core's loop in small steps until pred() is true or timeout
-- seconds have passed; returns pred()'s last value.
function M.run_until(gl, pred, timeout)
  local deadline = gatelog.now() + (timeout or 5)
  while not pred() do
    if gatelog.now() > deadline then return pred() end
    gl:run(0.005)
  end
  return true
end

-- A core whose policy (default: fixtures/capture.lua) sends every batch to
-- the host sender "capture". The returned `cap` collects what arrives and
-- decides how to answer: cap.mode = "ok" | "fail" | "hold".
function M.new(opts)
  opts = opts or {}
  opts.script = opts.script or M.fixture("capture.lua")
  opts.lua_path = M.src .. "/lua/?.lua;" .. M.src .. "/lua/?/init.lua;" .. M.src .. "/spec/fixtures/?.lua"
  if opts.access_log == nil then opts.access_log = false end
  -- Specs that are not about the time budget must not trip it on a loaded
  -- machine; the budget specs set it themselves.
  if opts.script_budget == nil then opts.script_budget = 1 end
  local logs = {}
  if opts.log == nil then
    opts.log = function(level, msg) logs[#logs + 1] = { level = level, msg = msg } end
  end
  local gl, err = gatelog.new(opts)
  assert(gl, err)
  local cap = { mode = "ok", batches = {}, records = {}, held = {}, calls = 0 }
  assert(gl:register_sender("capture", function(envelope, reply)
    cap.calls = cap.calls + 1
    local b = cjson.decode(envelope)
    if cap.mode == "hold" then
      cap.held[#cap.held + 1] = { batch = b, reply = reply }
    elseif cap.mode == "fail" then
      reply(false, "collector down")
    else
      cap.accept(b)
      reply(true)
    end
  end))
  -- Keep an acknowledged batch and its records.
  function cap.accept(b)
    b.records = b.records or M.decode(b.payload)
    cap.batches[#cap.batches + 1] = b
    for _, r in ipairs(b.records) do cap.records[#cap.records + 1] = r end
  end
  -- Answer held sends, oldest first.
  function cap.release(ok)
    local held = cap.held
    cap.held = {}
    for _, h in ipairs(held) do
      if ok then cap.accept(h.batch) end
      h.reply(ok, ok and nil or "collector down")
    end
  end
  return gl, cap, logs
end

-- Complete one TCP session, flush, and wait for its batch; returns the
-- record and its batch.
function M.one_record(gl, cap)
  local want = #cap.batches + 1
  assert(gl:tcp_end(assert(gl:tcp_start(1, "10.0.0.1:1000", "10.0.0.2:80"))))
  assert(gl:flush())
  assert(M.run_until(gl, function() return #cap.batches == want end), "no batch arrived")
  return cap.records[#cap.records], cap.batches[want]
end

-- A function that writes each text it is given to a new script file in a
-- fresh temporary directory and returns the file's path.
function M.script_writer()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local n = 0
  return function(text)
    n = n + 1
    local path = ("%s/policy%d.lua"):format(dir, n)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
  end, dir
end

-- The sessionIds of records, in order.
function M.ids(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = r.sessionId end
  return out
end

function M.count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

return M
