local core = require "gatelog.core"
core.file_append("early.log", "x", function() end)
return { send = "not a function" }
