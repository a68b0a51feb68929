-- spec/readme_spec.lua: docs/testing.md ("Testing code that uses corral") shows
-- its Lua examples as they are in spec/examples/ and spec/fixtures/, where they run.
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function ls(dir)
  local p = assert(io.popen("ls " .. dir))
  local files = {}
  for name in p:lines() do files[#files + 1] = dir .. "/" .. name end
  p:close()
  return files
end

describe("docs/testing.md", function()
  local page = read("docs/testing.md")
  local section = page:match("^# Testing code that uses corral\n(.*)$")
  local sources = {}
  for _, dir in ipairs({ "spec/examples", "spec/fixtures" }) do
    for _, path in ipairs(ls(dir)) do sources[path] = read(path) end
  end

  it("exists and shows Lua examples", function()
    assert.is_string(section)
    assert.truthy(section:find("```lua\n", 1, true))
  end)

  it("shows every Lua example verbatim from a file that runs in make test", function()
    local n = 0
    for block in (section or ""):gmatch("```lua\n(.-)```") do
      n = n + 1
      local found
      for path, text in pairs(sources) do
        if text:find(block, 1, true) then found = path end
      end
      assert(found, "not found verbatim in spec/examples or spec/fixtures:\n" .. block)
    end
    assert.is_true(n >= 6)
  end)

  it("shows every file of spec/examples", function()
    for path, text in pairs(sources) do
      if path:match("^spec/examples/") then
        assert(section:find(text:gsub("\n$", ""), 1, true), path .. " is not shown whole")
      end
    end
  end)
end)
