-- spec/docs_spec.lua: the documentation can be trusted.
--   * Every Lua block of README.md and docs/*.md fenced as ```lua run is a whole
--     script: it runs under the corral command and prints exactly its `--> `
--     lines (one per output line, in order; a bare `-->` is an empty line),
--     exits 0 and writes nothing to stderr.
--   * Every relative link of those pages names a file of the repository, and
--     its #anchor, if any, a heading of that file.
--   * No page names a path outside the repository.
local BIN = assert(os.getenv("CORRAL_BIN"), "CORRAL_BIN is set by ctest")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The anchors of a page's headings, as GitHub makes them: lower case, marks
-- other than "-" and "_" dropped, spaces made "-"; a repeated one gets "-1", ...
-- (headings inside fenced code are not headings).
local function anchors(text)
  local set, seen, fenced = {}, {}, false
  for line in text:gmatch("[^\n]*") do
    if line:match("^```") then fenced = not fenced
    elseif not fenced and line:match("^#+ ") then
      local a = line:gsub("^#+ ", ""):lower():gsub("[^%w%- _]", ""):gsub(" ", "-")
      local n = seen[a]
      seen[a] = (n or -1) + 1
      set[n and (a .. "-" .. (n + 1)) or a] = true
    end
  end
  return set
end

local function pages()
  local list = { "README.md" }
  local p = assert(io.popen("ls docs/*.md"))
  for name in p:lines() do list[#list + 1] = name end
  p:close()
  return list
end

-- The runnable blocks of a page: {line = n, code = "...", expected = "..."}.
local function runnable(text)
  local blocks, lineno = {}, 1
  local pos = 1
  while true do
    local s, e, code = text:find("```lua run\n(.-)```", pos)
    if not s then break end
    local _, nl = text:sub(1, s):gsub("\n", "")
    local expected = {}
    for line in code:gmatch("[^\n]*") do
      local out = line:match("^%-%-> ?(.*)$")
      if out then expected[#expected + 1] = out .. "\n" end
    end
    blocks[#blocks + 1] = { line = lineno + nl, code = code, expected = table.concat(expected) }
    pos = e + 1
  end
  return blocks
end

local function run(code)
  local script = os.tmpname()
  local f = assert(io.open(script, "wb"))
  f:write(code)
  f:close()
  local errfile = os.tmpname()
  local p = assert(io.popen(("cd %s && timeout 30 '%s' '%s' 2>'%s'"):format(
    os.getenv("TMPDIR") or "/tmp", BIN, script, errfile)))
  local out = p:read("a")
  local _, _, code_ = p:close()
  local err = read(errfile)
  os.remove(script)
  os.remove(errfile)
  return out, err, code_
end

describe("the documentation", function()
  local total = 0
  for _, page in ipairs(pages()) do
    local text = read(page)
    for _, block in ipairs(runnable(text)) do
      total = total + 1
      it(("%s:%d runs and prints what the page shows"):format(page, block.line), function()
        assert.truthy(block.expected ~= "", "a runnable block shows its output as --> lines")
        local out, err, status = run(block.code)
        assert.equal("", err)
        assert.equal(0, status)
        assert.equal(block.expected, out)
      end)
    end

    it(page .. ": every relative link names a file of the repository", function()
      local dir = page:match("^(.*)/") or "."
      for target in text:gmatch("%]%(([^)#%s]+)[^)]*%)") do
        if not target:match("^%a+:") then
          assert(exists(dir .. "/" .. target), page .. " links to a missing " .. target)
        end
      end
    end)

    it(page .. ": every #anchor of a link names a heading of its page", function()
      local dir = page:match("^(.*)/") or "."
      for file, anchor in text:gmatch("%]%(([^)#%s]*)#([^)%s]+)%)") do
        if not file:match("^%a+:") then
          local target = file == "" and page or dir .. "/" .. file
          assert(anchors(read(target))[anchor],
            page .. " links to #" .. anchor .. ", which " .. target .. " has no heading for")
        end
      end
    end)

    it(page .. ": names no path outside the repository", function()
      for _, outside in ipairs({ "/work/", "../shared", "API.md" }) do
        assert(not text:find(outside, 1, true), page .. " mentions " .. outside)
      end
    end)
  end

  it("has runnable examples in the README and in the tutorial", function()
    assert.is_true(#runnable(read("README.md")) >= 3)
    assert.is_true(#runnable(read("docs/tutorial.md")) >= 3)
    assert.is_true(total >= 6)
  end)
end)
