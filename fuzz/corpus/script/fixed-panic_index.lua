return setmetatable({}, { __index = function(t, k) error("x") end })
