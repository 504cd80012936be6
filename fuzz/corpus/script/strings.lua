-- String functions on record fields: patterns, formats, bytes.
return {
  enrich = function(s)
    local a = s.sourceAddr
    s.h = a:gsub("%d", "x"):upper():rep(2, ",")
    s.f = string.format("%q %5.2f %d %s", a, s.bytesTx / 3, s.bytesRx, s.endedAt)
    s.m = a:match("^%[?([%x:.]+)%]?:(%d+)$")
    s.b = string.char(a:byte(1, -1))
    s.j = bit.bxor(s.sourcePort, s.destPort)
    s.d = os.date("!%Y", os.time())
  end,
  send = function(b, done) done(#b.payload > 0) end,
}
