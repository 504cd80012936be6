-- The redis transport: one XADD per record to a Redis stream, pipelined
-- over one connection (RESP on the core's tcp primitive). done(true) once
-- Redis answered every XADD of the batch with an entry id.
--
--   local redis = require "gatelog.transport.redis"
--   send = redis.new{ host = "127.0.0.1", port = 6379, key = "gatelog",
--                     maxlen = 100000,      -- XADD ... MAXLEN ~ 100000 (approximate trim)
--                     password = nil, db = nil,
--                     tls = nil }            -- rediss: core.tcp.connect's tls table
--
-- Each entry's fields are the record's keys (the ndjson codec's order),
-- values as text, then recordId: the record's dedupe key
-- (instanceId:sessionId[-seq]). An error reply fails the batch: WRONGTYPE
-- and other ERR replies for good (permanent: retrying cannot help), others
-- (OOM, LOADING, BUSY, MOVED, NOAUTH, ... and ERR max number of clients)
-- for a retry, as a lost connection is. A retry, or a batch sent again
-- after a crash, re-adds the whole batch: the stream may then hold a
-- record twice, under two entry ids (Redis's), with one recordId. A
-- consumer dedupes on it, e.g. `SET seen:<recordId> 1 NX EX 86400` and
-- skipping the entry when that answers nil.
local Conn = require "gatelog.transport.conn"
local json = require "gatelog.json"
local record = require "gatelog.record"
local concat, tostring, type, find, sub, tonumber = table.concat, tostring, type, string.find, string.sub, tonumber

local M = {}

-- One command in RESP: an array of bulk strings.
function M.command(args)
  local out = { "*" .. #args .. "\r\n" }
  for i = 1, #args do
    local a = args[i]
    out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return concat(out)
end

local function text(v)
  if type(v) == "number" then return json.number(v) end
  return tostring(v)
end

local scratch = {}

-- The XADD of one record; record_id (its dedupe key) is added if given.
function M.xadd(key, maxlen, r, record_id)
  local args = { "XADD", key }
  if maxlen then
    args[3], args[4], args[5] = "MAXLEN", "~", tostring(maxlen)
  end
  args[#args + 1] = "*"
  local keys = json.RECORD_KEYS
  for i = 1, #keys do
    local v = r[keys[i]]
    if v ~= nil then
      args[#args + 1] = keys[i]
      args[#args + 1] = text(v)
    end
  end
  local extra, nk = json.extra_keys(r, scratch)
  for i = 1, nk do
    args[#args + 1] = tostring(extra[i])
    args[#args + 1] = text(r[extra[i]])
  end
  if record_id then
    args[#args + 1] = "recordId"
    args[#args + 1] = record_id
  end
  return M.command(args)
end

-- Take one reply off the front of buf: returns kind ("+", "-", ":", "$",
-- "*"), its text, and the rest; nil if buf holds no whole reply yet.
-- Arrays are skipped whole (nothing here sends a command answered by one
-- that matters).
function M.parse(buf, pos)
  pos = pos or 1
  local eol = find(buf, "\r\n", pos, true)
  if not eol then return nil end
  local kind, line = sub(buf, pos, pos), sub(buf, pos + 1, eol - 1)
  if kind == "$" then
    local n = tonumber(line)
    if not n or n < 0 then return "$", nil, eol + 2 end
    if #buf < eol + 2 + n + 1 then return nil end
    return "$", sub(buf, eol + 2, eol + 1 + n), eol + 4 + n
  end
  if kind == "*" then
    local n, p = tonumber(line) or 0, eol + 2
    for _ = 1, n do
      local k, _, nextp = M.parse(buf, p)
      if not k then return nil end
      p = nextp
    end
    return "*", line, p
  end
  return kind, line, eol + 2
end

-- Error codes that can pass with the batch unchanged: a server busy,
-- loading, failing over or out of memory, a cluster redirect, and
-- credentials or permissions being fixed.
local RETRIABLE = { OOM = true, LOADING = true, BUSY = true, TRYAGAIN = true, MASTERDOWN = true,
  READONLY = true, CLUSTERDOWN = true, MISCONF = true, NOREPLICAS = true, MOVED = true, ASK = true,
  NOAUTH = true, WRONGPASS = true, NOPERM = true }

-- A reply that fails the batch for good: only what retrying cannot change.
function M.permanent(err)
  if err:find("max number of clients", 1, true) then return false end
  return not RETRIABLE[err:match("^(%u+)")]
end

function M.new(s)
  local key = s.key or "gatelog"
  local pending = {} -- FIFO of { left = replies expected, err = first error, done = fn }
  local buf = ""
  local conn

  local function fail_all(err)
    local p = pending
    pending, buf = {}, ""
    for _, w in ipairs(p) do w.done(false, err) end
  end

  local function on_data(chunk)
    buf = buf .. chunk
    local pos = 1
    while pending[1] do
      local kind, line, nextp = M.parse(buf, pos)
      if not kind then break end
      pos = nextp
      local w = pending[1]
      if kind == "-" and not w.err then w.err = line end
      w.left = w.left - 1
      if w.left == 0 then
        table.remove(pending, 1)
        if not w.err then
          w.done(true)
        else
          w.done(false, "redis: " .. w.err, { permanent = M.permanent(w.err) })
        end
      end
    end
    buf = sub(buf, pos)
  end

  conn = Conn.new{ host = s.host or "127.0.0.1", port = s.port or 6379, tls = s.tls, timeout = s.connect_timeout,
    on_data = on_data, on_lost = function(err) fail_all(err) end }

  -- What a new connection must send first: AUTH and SELECT, whose replies
  -- are counted against a batch of their own.
  local prelude_for
  local function prelude(c)
    if prelude_for == c then return "" , 0 end
    prelude_for = c
    local cmds, n = {}, 0
    if s.password then
      n = n + 1
      cmds[n] = M.command({ "AUTH", s.password })
    end
    if s.db then
      n = n + 1
      cmds[n] = M.command({ "SELECT", tostring(s.db) })
    end
    return concat(cmds), n
  end

  return function(batch, done)
    local recs = record.of(batch)
    local instance = record.instance_of(batch, s)
    local cmds = {}
    for i = 1, #recs do
      cmds[i] = M.xadd(key, s.maxlen, recs[i], instance and record.key(recs[i], instance))
    end
    conn:get(function(c, err)
      if not c then return done(false, err) end
      local pre, npre = prelude(c)
      if npre > 0 then
        pending[#pending + 1] = { left = npre, done = function(ok, perr)
          if not ok then conn:drop(perr) end
        end }
      end
      if #recs == 0 then return done(true) end
      pending[#pending + 1] = { left = #recs, done = done }
      c:write(pre .. concat(cmds), function(ok, werr)
        if not ok then conn:drop(werr) end
      end)
    end)
  end
end

return M
