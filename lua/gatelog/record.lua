-- Helpers over the records that codecs receive (batch.records: tables
-- with the JSON keys of the default codec, plus endReason and final).
local match, format, tonumber, sub, byte, find = string.match, string.format, tonumber, string.sub, string.byte, string.find
local floor = math.floor

local M = {}

-- Whether x is a batch: the one send receives (a userdata whose locked
-- metatable answers with its name), or a table shaped like one (with a
-- payload), as a test or a replay may build.
function M.is_batch(x)
  if type(x) == "userdata" then return getmetatable(x) == "gatelog.batch" end
  return type(x) == "table" and x.payload ~= nil
end

-- The records of x: x itself, or x.records when x is a batch.
function M.of(x)
  if M.is_batch(x) then return x.records end
  if type(x) ~= "table" then error("expected records or a batch, got " .. type(x), 3) end
  return x
end

-- The instance id for dedupe keys: opts.instance_id, else the batch's
-- (batch.instance_id); nil for plain records without the option.
function M.instance_of(x, opts)
  if opts and opts.instance_id ~= nil then return opts.instance_id end
  if M.is_batch(x) then return x.instance_id end
  return nil
end

-- A record's dedupe key, the same however often its batch is delivered:
-- "<instance>:<sessionId>", with "-<seq>" for interim and start records
-- (a session has several). A sessionId is unique in one gatelog, not in a
-- fleet: the instance id makes the key so. Without an instance, the
-- sessionId part alone.
function M.key(r, instance)
  local k = r.sessionId or ""
  if r.seq ~= nil then k = k .. "-" .. format("%d", r.seq) end
  if instance ~= nil then k = instance .. ":" .. k end
  return k
end

-- Days since 1970-01-01 of a proleptic Gregorian date (no time zone:
-- os.time would apply the local one).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local days_cache = {} -- one entry per date seen: a few per year

M.days_from_civil = days_from_civil

-- An RFC3339 UTC time ("2026-11-27T10:00:05.9876Z") as whole seconds
-- since the epoch and its fraction as 9 digits ("987600000"); nil if it
-- is not one. Pattern matching costs most of a microsecond without the
-- JIT (budgeted scripts run without it): the fixed positions are cut
-- with sub, and the day is looked up once per date.
function M.parse_time(s)
  local n = #s
  if n < 20 or byte(s, 11) ~= 84 or byte(s, n) ~= 90 then return nil end -- 'T', 'Z'
  local date = sub(s, 1, 10)
  local days = days_cache[date]
  if not days then
    local y, mo, d = match(date, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
    if not y then return nil end
    days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
    days_cache[date] = days
  end
  local h, mi, se = tonumber(sub(s, 12, 13)), tonumber(sub(s, 15, 16)), tonumber(sub(s, 18, 19))
  if not (h and mi and se) then return nil end
  local frac = "000000000"
  if n > 20 then
    if byte(s, 20) ~= 46 then return nil end -- '.'
    frac = sub(sub(s, 21, n - 1) .. "000000000", 1, 9)
  end
  return days * 86400 + h * 3600 + mi * 60 + se, frac
end

local ZEROS = { [0] = "", "0", "00", "000", "0000", "00000", "000000", "0000000", "00000000", "000000000" }
local last_prefix, last_secs

-- Nanoseconds since the epoch, as a decimal string (int64 values do not
-- fit a Lua number exactly, so they are written as text). The records of
-- a batch mostly share their second: its text is kept from the last call.
function M.unix_nanos(s)
  local n = #s
  local prefix = sub(s, 1, 19)
  local secs = prefix == last_prefix and last_secs
  if not secs or byte(s, n) ~= 90 then
    local whole = M.parse_time(s)
    if not whole then return nil end
    if whole == 0 then return format("%d", tonumber(select(2, M.parse_time(s)))) end
    secs = format("%d", whole)
    last_prefix, last_secs = prefix, secs
  end
  if n == 20 then return secs .. "000000000" end
  if byte(s, 20) ~= 46 or n > 30 then return nil end
  local frac = sub(s, 21, n - 1)
  return secs .. frac .. ZEROS[9 - #frac]
end

-- "ip:port" or "[v6]:port" as ip and port (a number); a string that is
-- neither (an address an enrich replaced) comes back whole, port nil.
function M.split_addr(a)
  if byte(a, 1) == 91 then -- '['
    local close = find(a, "]:", 2, true)
    local port = close and tonumber(sub(a, close + 2))
    if port then return sub(a, 2, close - 1), port end
    return a, nil
  end
  local colon = find(a, ":", 1, true)
  if colon and not find(a, ":", colon + 1, true) then
    local port = tonumber(sub(a, colon + 1))
    if port then return sub(a, 1, colon - 1), port end
  end
  return a, nil
end

-- The time a record stands for: when it ended, or for a start record
-- (no endedAt) when it started.
function M.time_of(r)
  return r.endedAt or r.startedAt
end

return M
