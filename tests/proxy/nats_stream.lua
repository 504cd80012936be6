-- For nats_test.sh: the JetStream API through spec/nats_support.lua.
--   luajit nats_stream.lua create PORT STREAM SUBJECTS   a stream with a duplicate window
--   luajit nats_stream.lua dump PORT STREAM              one JSON line per message:
--                                                       {"subject","id","data"}
local cjson = require "cjson"
-- Not the gatelog module (in the ASan build it cannot load into a plain
-- luajit): the helpers need only its clock.
package.loaded.gatelog = { now = require("socket").gettime }
local N = require "nats_support"
local cmd, port, stream, subjects = arg[1], tonumber(arg[2]), arg[3], arg[4]
local c = assert(N.client(port))
if cmd == "create" then
  c:create_stream(stream, { subjects })
elseif cmd == "dump" then
  for _, m in ipairs(c:messages(stream)) do
    print(cjson.encode{ subject = m.subject, id = m.headers["Nats-Msg-Id"], data = m.data })
  end
else
  error("usage: nats_stream.lua create|dump PORT STREAM [SUBJECTS]")
end
c:close()
