-- The nats transport: records published to NATS JetStream (core.nats, over
-- nats.c), done(true) only once JetStream acknowledged every message of
-- the batch.
--
--   local nats = require "gatelog.transport.nats"
--   send = nats.new{
--     urls = { "nats://10.0.0.1:4222", "nats://10.0.0.2:4222" },  -- or "url,url"
--     subject = "gatelog.access.{resourceId}",   -- {resourceId}, {protocol}
--     per = "record",              -- one message per record (default), or "batch"
--     creds = nil, user = nil, password = nil, token = nil,
--     tls = nil,                   -- { ca = file, cert = file, key = file }
--     ack_timeout = 5,             -- seconds to wait for a PubAck
--     max_inflight = 1024,         -- messages waiting for their PubAck at once
--   }
--
-- Every message carries a Nats-Msg-Id that is the same on every retry and
-- after a restart from the spool: <instance_id>-<sessionId> (and -<seq>
-- for interim and start records) per record, <instance_id>-<batch id> per
-- batch. Within the stream's duplicate window JetStream stores a message
-- id once, so a batch sent again stores nothing twice.
--
-- A message's body is the record as the ndjson codec writes it (one JSON
-- object), or per batch the batch's ndjson. How the batch ends:
--   every message acknowledged         done(true)
--   no acknowledgement in time, a      done(false, err): retried
--   negative one, no server, "no
--   responders" (no stream takes the
--   subject yet, a leader election)
--   larger than the server's           done(false, err, { permanent = true })
--   max_payload
local core = require "gatelog.core"
local ndjson = require "gatelog.codec.ndjson"
local record = require "gatelog.record"
local format, gsub, find, tostring = string.format, string.gsub, string.find, tostring

local M = {}

-- The subject of record r: the template's placeholders filled in.
function M.subject(template, r)
  if not find(template, "{", 1, true) then return template end
  return (gsub(template, "{(%a+)}", function(name)
    if name == "resourceId" then return format("%d", r.resourceId or 0) end
    if name == "protocol" then return tostring(r.protocol or "unknown") end
    return nil
  end))
end

-- The Nats-Msg-Id of record r.
function M.msg_id(instance, r)
  local id = instance .. "-" .. (r.sessionId or "")
  if r.seq ~= nil then id = id .. "-" .. format("%d", r.seq) end
  return id
end

local function check(s)
  if type(s) ~= "table" then error("nats.new: expects a settings table", 3) end
  local per = s.per or "record"
  if per ~= "record" and per ~= "batch" then error("nats.new: per must be \"record\" or \"batch\"", 3) end
  local subject = s.subject or "gatelog.access.{resourceId}"
  if per == "batch" and find(subject, "{", 1, true) then
    error("nats.new: per = \"batch\" takes a subject without placeholders (a batch mixes resources)", 3)
  end
  return per, subject
end

function M.new(s)
  local per, subject = check(s)
  local conn
  local function connection()
    if not conn then
      conn = core.nats.connect{ servers = s.urls or "nats://127.0.0.1:4222", user = s.user,
        password = s.password, token = s.token, creds = s.creds, tls = s.tls, name = s.name or "gatelog",
        ack_timeout = s.ack_timeout, max_inflight = s.max_inflight, connect_timeout = s.connect_timeout }
    end
    return conn
  end

  local send = function(batch, done)
    local instance = batch.instance_id or "gatelog"
    local subjects, bodies, ids
    if per == "batch" then
      subjects, bodies, ids = subject, { ndjson.encode(batch) }, instance .. "-" .. batch.id
    else
      local recs = record.of(batch)
      if #recs == 0 then return done(true) end
      bodies, subjects, ids = ndjson.messages(recs), {}, {}
      for i = 1, #recs do
        subjects[i] = M.subject(subject, recs[i])
        ids[i] = M.msg_id(instance, recs[i])
      end
    end
    connection():publish(subjects, bodies, ids, function(ok, err, kind)
      if ok then return done(true) end
      if kind == "permanent" then return done(false, err, { permanent = true }) end
      if kind == "no_responders" then
        err = format("nats: no stream takes subject %s (no responders): create the stream, "
          .. "or wait for its leader", type(subjects) == "table" and subjects[1] or subjects)
      end
      done(false, err)
    end)
  end
  -- The connection's counts (published, acked, duplicates, errors,
  -- reconnects, connected_url), for a script or a test.
  local function stats() return conn and conn:stats() or {} end
  return send, stats
end

return M
