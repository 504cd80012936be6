-- Errors everywhere a script can raise: the core catches and counts them.
return {
  filter = function(s) if s.protocol == "udp" then error({ table = "error" }) end return true end,
  enrich = function(s) s[{}] = 1 end,
  send = function(b, done)
    local ok = pcall(function() return b.nothing.here end)
    done(false, "later", { retry_after = 0.001 })
    done(true)
    error("after done")
  end,
}
