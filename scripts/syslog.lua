-- gatelog policy: RFC 5424 syslog with each record as structured data, to
-- a syslog relay (rsyslog, syslog-ng): over TCP framed by octet counting
-- (RFC 6587), reconnecting with backoff, or over UDP one datagram per
-- record.
--
-- Settings (the `settings` table below; environment variables override):
--   host       GATELOG_SYSLOG_HOST       default 127.0.0.1
--   port       GATELOG_SYSLOG_PORT       default 514
--   transport  GATELOG_SYSLOG_TRANSPORT  "tcp" (default) or "udp"
-- Messages: facility local0, severity info, app "gatelog", msgid
-- "access", this host's name.
local core = require "gatelog.core"

local settings = {
  host = os.getenv("GATELOG_SYSLOG_HOST") or "127.0.0.1",
  port = tonumber(os.getenv("GATELOG_SYSLOG_PORT") or "514"),
  transport = os.getenv("GATELOG_SYSLOG_TRANSPORT") or "tcp",
  codec = "syslog",
  codec_options = { hostname = core.hostname(), facility = 16, severity = 6 },
}

local transport = settings.transport == "udp" and require "gatelog.transport.udp"
  or require "gatelog.transport.tcp"

return {
  send = transport.new(settings),
}
