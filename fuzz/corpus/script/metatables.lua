-- Metatables, coroutines and load: what a sandboxed script may use.
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
local mt = { __index = function(t, k) return k end, __newindex = rawset, __call = function() return 1 end }
local t = setmetatable({}, mt)
local f = load("return ...", "=chunk", "t", {})
local x = co(1) + co(2) + t() + (f and f(3) or 0)
return setmetatable({
  send = function(b, done)
    local view = getmetatable(b)
    done(x > 0 and view ~= nil)
  end,
  filter = function(s) return tostring(s):len() > 0 and select("#", s.sessionId) == 1 end,
}, { __metatable = false })
