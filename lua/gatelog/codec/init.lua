-- The codecs by name: require("gatelog.codec").get("otlp") is
-- require("gatelog.codec.otlp"). Each codec is a table with
--   encode(records_or_batch, opts) -> body string
--   content_type                   -> for HTTP
-- and, being a pure function of the records and options, can be tried on
-- fixed records without a core.
local M = {}

M.NAMES = { "newt", "ndjson", "otlp", "loki", "elasticsearch", "syslog" }

-- A codec from its name, or the codec table itself.
function M.get(c)
  if type(c) == "table" and type(c.encode) == "function" then return c end
  if type(c) ~= "string" then error("codec must be a name or a table with encode", 2) end
  for _, n in ipairs(M.NAMES) do
    if n == c then return require("gatelog.codec." .. c) end
  end
  error("unknown codec '" .. c .. "' (known: " .. table.concat(M.NAMES, ", ") .. ")", 2)
end

return M
