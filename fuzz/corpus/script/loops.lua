-- Work that a budget must stop: a loop in filter, a deep recursion in
-- enrich, a large string in send.
local function deep(k) return k == 0 and 0 or 1 + deep(k - 1) end
return {
  filter = function(s) local i = 0 while true do i = i + 1 end end,
  enrich = function(s) s.depth = deep(1e6) end,
  send = function(b, done)
    local t = {}
    for i = 1, 1e7 do t[i] = ("x"):rep(100) end
    done(true)
  end,
}
