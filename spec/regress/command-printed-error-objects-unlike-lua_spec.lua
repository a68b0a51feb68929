-- The command printed error values lua words differently: a table as
-- "table: 0x...", nil as "nil" (lua: "(error object is a table value)"),
-- and a missing -l module behind a position in its own driver.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function stderr_of(args)
  local p = assert(io.popen(BIN .. " " .. args .. " 2>&1 >/dev/null"))
  local out = p:read("a")
  p:close()
  return out
end

describe("regression: the command's error text, as lua's", function()
  it("names the type of an error value that is not a string", function()
    for v, t in pairs{ ["{}"] = "table", ["nil"] = "nil", ["false"] = "boolean", ["print"] = "function" } do
      local out = stderr_of(("-e 'error(%s)'"):format(v))
      assert.truthy(out:find(("^corral: %%(error object is a %s value%%)"):format(t)), out)
    end
  end)

  it("prints a value with __tostring through it", function()
    local out = stderr_of([[-e 'error(setmetatable({}, {__tostring = function() return "custom!" end}))']])
    assert.truthy(out:find("^corral: custom!"), out)
  end)

  it("names the type when __tostring gives no string, as lua does", function()
    local out = stderr_of([[-e 'error(setmetatable({}, {__tostring = function() return 42 end}))']])
    assert.truthy(out:find("^corral: %(error object is a table value%)"), out)
  end)

  it("reports a bad io.write argument as lua does (the command checks io.write)", function()
    local out = stderr_of("-e 'io.write({})'")
    assert.truthy(out:find("^corral: %(command line%):1: bad argument #1 to 'write'"), out)
  end)

  it("reports a missing -l module without a position of its own", function()
    local out = stderr_of("-l nosuchmod_xyz -e 'print(1)'")
    assert.truthy(out:find("^corral: module 'nosuchmod_xyz' not found"), out)
  end)
end)

-- -E ignored LUA_INIT only; lua's -E ignores LUA_PATH and LUA_CPATH too.
describe("regression: the command's -E", function()
  it("ignores LUA_PATH and LUA_CPATH, as lua's does", function()
    local p = assert(io.popen("LUA_PATH='/nowhere/?.lua' LUA_CPATH='/nowhere/?.so' " .. BIN ..
      " -E -e 'print(package.path:find(\"/nowhere\", 1, true), package.cpath:find(\"/nowhere\", 1, true))'"))
    local out = p:read("a")
    p:close()
    assert.equal("nil\tnil\n", out)
  end)
end)
