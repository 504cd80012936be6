-- gatelog policy: RFC 5424 syslog with each record as structured data, to
-- a syslog relay (rsyslog, syslog-ng): over TCP framed by octet counting
-- (RFC 6587), over TLS (RFC 5425, the same framing), reconnecting with
-- backoff, or over UDP one datagram per record.
--
-- Environment (docs/scripts.md has them all, with the TLS ones):
--   GATELOG_SYSLOG_HOST       default 127.0.0.1
--   GATELOG_SYSLOG_TRANSPORT  tcp (default), tls or udp
--   GATELOG_SYSLOG_PORT       default 514; 6514 with tls
--   GATELOG_SYSLOG_FACILITY   0-23 or a name: local0 (default) ... local7, user, daemon, ...
--   GATELOG_SYSLOG_SEVERITY   0-7 or a name: info (default), notice, warning, ...
--   GATELOG_SYSLOG_APP_NAME   APP-NAME (default "gatelog"; 1-48 printable ASCII)
--   GATELOG_SYSLOG_MSGID      MSGID (default "access"; 1-32 printable ASCII)
--   GATELOG_SYSLOG_SD_ID      SD-ID (default "gatelog@32473", 32473 being RFC
--                             5612's example number: set your own name@number)
--   GATELOG_TLS_CA_FILE, GATELOG_TLS_CA_DIR, GATELOG_TLS_SERVER_NAME,
--   GATELOG_TLS_CERT, GATELOG_TLS_KEY, GATELOG_TLS_VERIFY, GATELOG_TLS_MIN_VERSION (tls)
--   GATELOG_FLUSH_INTERVAL (default 1 s), GATELOG_BATCH_MAX (default 500)
local core = require "gatelog.core"
local env = require "gatelog.env"

local FACILITIES = { kern = 0, user = 1, mail = 2, daemon = 3, auth = 4, syslog = 5, lpr = 6,
  news = 7, uucp = 8, cron = 9, authpriv = 10, ftp = 11, ntp = 12, audit = 13, alert = 14,
  clock = 15, local0 = 16, local1 = 17, local2 = 18, local3 = 19, local4 = 20, local5 = 21,
  local6 = 22, local7 = 23 }
local SEVERITIES = { emerg = 0, alert = 1, crit = 2, err = 3, error = 3, warning = 4, warn = 4,
  notice = 5, info = 6, debug = 7 }

-- A number in [0, max] or a name of names.
local function code(name, default, names, max)
  local v = env.raw(name)
  if v == nil then return default end
  if names[v:lower()] then return names[v:lower()] end
  return env.integer(name, default, 0, max)
end

-- RFC 5424 header fields and SD-NAMEs: printable US-ASCII, no space;
-- an SD-NAME has no '=', ']' or '"' either.
local function field(name, default, max, sd)
  local v = env.string(name, default)
  local bad = sd and '[^!-~]' or '[^!-~]'
  if #v > max or v:find(bad) or (sd and v:find('[=%]"]')) then
    error(("%s=%q: must be 1 to %d printable ASCII characters%s"):format(name, v, max,
      sd and ' without = ] or "' or ""), 0)
  end
  return v
end

local transport = env.oneof("GATELOG_SYSLOG_TRANSPORT", "tcp", { "tcp", "tls", "udp" })
local tls = env.tls(transport == "tls")
local sd_id = field("GATELOG_SYSLOG_SD_ID", "gatelog@32473", 32, true)
if sd_id:find("@") and not sd_id:match("^[^@]+@%d+[%d.]*$") then
  error(("GATELOG_SYSLOG_SD_ID=%q: name@number, the number a private enterprise number"):format(sd_id), 0)
end

local settings = {
  host = env.string("GATELOG_SYSLOG_HOST", "127.0.0.1"),
  port = env.port("GATELOG_SYSLOG_PORT", tls and 6514 or 514),
  tls = tls,
  codec = "syslog",
  codec_options = {
    hostname = core.hostname(),
    facility = code("GATELOG_SYSLOG_FACILITY", 16, FACILITIES, 23),
    severity = code("GATELOG_SYSLOG_SEVERITY", 6, SEVERITIES, 7),
    app_name = field("GATELOG_SYSLOG_APP_NAME", "gatelog", 48),
    msgid = field("GATELOG_SYSLOG_MSGID", "access", 32),
    sd_id = sd_id,
  },
}
-- The body built in C on gatelog's threads (the Lua codec's bytes): docs/codecs-in-c.md.
settings.codec = require("gatelog.codec.native").new(settings.codec, settings.codec_options)

local send = transport == "udp" and require("gatelog.transport.udp").new(settings)
  or require("gatelog.transport.tcp").new(settings)

return {
  config = env.core{ flush_interval = 1, batch_max = 500 },
  send = send,
}
