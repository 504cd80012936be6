-- The documentation holds together: every relative link and anchor in
-- README.md and docs/ leads somewhere, every repository path it names in
-- code exists, every page of docs/ is reachable from its index, the man
-- pages render without a warning and gatelog(3) lists every public
-- function and error code, and the systemd unit lets a drain finish.
local src = os.getenv("GATELOG_SOURCE_DIR") or "."

local function read(path)
  local f = assert(io.open(src .. "/" .. path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function exists(path)
  local f = io.open(src .. "/" .. path, "rb")
  if f then f:close() end
  return f ~= nil or os.execute("test -e '" .. src .. "/" .. path .. "'") == 0
end

local function lines_of(cmd)
  local out, p = {}, assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- README.md and every docs/*.md, repository-relative.
local pages = { "README.md" }
for _, f in ipairs(lines_of("cd '" .. src .. "' && ls docs/*.md")) do pages[#pages + 1] = f end

-- Markdown text without its fenced code blocks (links there are code).
local function prose(text)
  return (text:gsub("\n```.-\n```", "\n"))
end

-- GitHub's anchor of a heading: lower case, punctuation gone, spaces to '-'.
local function slug(heading)
  return (heading:lower():gsub("[^%w%- _]", ""):gsub(" ", "-"))
end

local anchors_cache = {}
local function anchors(path)
  if anchors_cache[path] then return anchors_cache[path] end
  local set, seen = {}, {}
  for h in prose("\n" .. read(path)):gmatch("\n#+ ([^\n]+)") do
    local s = slug(h)
    local n = seen[s]
    set[n and (s .. "-" .. n) or s] = true
    seen[s] = (n or 0) + 1
  end
  anchors_cache[path] = set
  return set
end

local function dir_of(path)
  return path:match("^(.*)/") or "."
end

-- a/b/../c -> a/c
local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return table.concat(parts, "/")
end

describe("the documentation", function()
  it("has no relative link or anchor that leads nowhere", function()
    local bad, checked = {}, 0
    for _, page in ipairs(pages) do
      for target in prose(read(page)):gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^%a[%w+.-]*:") then -- http:, https:, mailto:
          checked = checked + 1
          local file, anchor = target:match("^([^#]*)#?(.*)$")
          local path = file == "" and page or normalize(dir_of(page) .. "/" .. file)
          if not exists(path) then
            bad[#bad + 1] = page .. ": " .. target .. " (no " .. path .. ")"
          elseif anchor ~= "" and path:match("%.md$") and not anchors(path)[anchor] then
            bad[#bad + 1] = page .. ": " .. target .. " (no heading #" .. anchor .. " in " .. path .. ")"
          end
        end
      end
    end
    assert.is_true(checked > 30, "too few links found: the pattern is broken")
    assert.are.same({}, bad)
  end)

  it("names no repository path in code that does not exist", function()
    local top = {}
    for _, f in ipairs(lines_of("cd '" .. src .. "' && ls -A")) do
      if not f:match("^build") then top[f] = true end
    end
    local bad, checked = {}, 0
    for _, page in ipairs(pages) do
      for code in read(page):gmatch("`([^`\n]+)`") do
        for word in code:gmatch("[^%s,;()'\"=]+") do
          local path = word:gsub("[.:]$", "")
          local first = path:match("^([%w._-]+)/")
          -- A placeholder (fuzz/corpus/NAME/) is not a path to look for.
          if first and top[first] and not path:match("/%u%u%u+") then
            checked = checked + 1
            local found = path:find("*", 1, true)
              and #lines_of("cd '" .. src .. "' && ls -d " .. path .. " 2>/dev/null") > 0
              or exists(path)
            if not found then bad[#bad + 1] = page .. ": `" .. path .. "`" end
          end
        end
      end
    end
    assert.is_true(checked > 30, "too few paths found: the pattern is broken")
    assert.are.same({}, bad)
  end)

  it("links every page of docs/ from its index", function()
    local index = read("docs/README.md")
    local missing = {}
    for _, page in ipairs(pages) do
      local name = page:match("^docs/(.+)$")
      if name and name ~= "README.md" and not index:find("(" .. name .. ")", 1, true) then
        missing[#missing + 1] = page
      end
    end
    assert.are.same({}, missing)
  end)
end)

describe("the man pages", function()
  local man = { "man/gatelog.1", "man/gatelog-proxy.8", "man/gatelog.3" }

  it("render with groff -man -ww without a warning", function()
    for _, page in ipairs(man) do
      -- Without the sanitizer runtime the ASan build preloads into luajit.
      local out = lines_of("env -u LD_PRELOAD groff -man -ww -Tutf8 '" .. src .. "/" .. page ..
                           "' 2>&1 >/dev/null")
      assert.are.same({}, out, page)
    end
  end)

  it("say the version CMakeLists.txt builds", function()
    local version = read("CMakeLists.txt"):match("project%(gatelog VERSION ([%d.]+)")
    assert.is_truthy(version)
    for _, page in ipairs(man) do
      assert.is_truthy(read(page):find('"gatelog ' .. version .. '"', 1, true), page)
    end
  end)

  it("list every public function of gatelog.h in gatelog(3), with a line saying what it does", function()
    local header, page = read("core/include/gatelog.h"), read("man/gatelog.3")
    local synopsis, description = page:match("\n%.SH SYNOPSIS\n(.-)\n%.SH DESCRIPTION\n(.-)\n%.SH ")
    assert.is_truthy(synopsis and description)
    local missing, count = {}, 0
    for name in ("\n" .. header):gmatch("\nGATELOG_EXTERN [^;{]-([%w_]+)%s*%(") do
      count = count + 1
      local described = description:find("\n%.BR? [^\n]-%f[%w_]" .. name .. "%f[^%w_]")
      if not synopsis:find("%f[%w_]" .. name .. "%(") or not described then
        missing[#missing + 1] = name
      end
    end
    assert.is_true(count >= 20, "too few GATELOG_EXTERN functions found: the pattern is broken")
    assert.are.same({}, missing)
  end)

  it("list every error code of gatelog.h in gatelog(3)", function()
    local header, page = read("core/include/gatelog.h"), read("man/gatelog.3")
    local errors = page:match("\n%.SH ERRORS\n(.-)\n%.SH ")
    local missing, count = {}, 0
    for name in header:gmatch("%f[%w_](GATELOG_E%u+)%s*=%s*GATELOG_ERRNO_BASE") do
      count = count + 1
      if not errors:find("\n%.B " .. name .. "\n") then missing[#missing + 1] = name end
    end
    assert.is_true(count >= 6)
    assert.are.same({}, missing)
  end)
end)

describe("the systemd unit of gatelog-proxy", function()
  local unit = read("packaging/gatelog-proxy.service.in")
  local env = read("packaging/gatelog-proxy.env")

  local function seconds(text, key)
    return tonumber(text:match("\n" .. key .. "=(%d+)"))
  end

  it("reloads with SIGHUP and stops with SIGTERM", function()
    assert.is_truthy(unit:find("\nExecReload=/bin/kill %-HUP %$MAINPID\n"))
    assert.is_truthy(unit:find("\nKillSignal=SIGTERM\n"))
  end)

  it("waits longer for a stop than the drain takes", function()
    local stop = seconds(unit, "TimeoutStopSec")
    local drains = { seconds(unit, "Environment=GATELOG_DRAIN"), seconds(env, "GATELOG_DRAIN") }
    assert.is_truthy(stop and drains[1] and drains[2])
    for _, d in ipairs(drains) do assert.is_true(stop > d) end
    assert.is_truthy(unit:find("%-%-drain %${GATELOG_DRAIN}"))
  end)
end)
