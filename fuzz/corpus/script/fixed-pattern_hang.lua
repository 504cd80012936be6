return {
  filter = function(s) return string.find(("a"):rep(3000), ("a*"):rep(4) .. "b") == nil end,
  send = function(b, done) done(true) end,
}
