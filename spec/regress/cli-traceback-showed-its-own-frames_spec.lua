-- An error's traceback from the command showed the command's own frames
-- (corral.cli, the xpcall that called the user's code) below the user's,
-- and named an -e chunk "field 'fn'" where lua says "main chunk"; lua prints
-- the user's frames and one "[C]: in ?". Each case is compared with lua5.4.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

-- stderr of `prog args` (a shell line), with the program's name cut off.
local function stderr_of(prog, args)
  local err = os.tmpname()
  local p = assert(io.popen(("%s %s 2>%s; echo $?"):format(q(prog), args, q(err))))
  local code = tonumber(p:read("a"))
  p:close()
  local f = assert(io.open(err, "rb")); local t = f:read("a"); f:close(); os.remove(err)
  return (t:gsub("^[^:]*: ", "", 1)), code
end

describe("regression: the command's tracebacks against lua's", function()
  local script = os.tmpname()
  setup(function()
    local f = assert(io.open(script, "w"))
    f:write("local function inner() error('deep') end\nlocal function outer() inner() end\nouter()\n")
    f:close()
  end)
  teardown(function() os.remove(script) end)

  -- a chain of n calls to a function that raises
  local function deep(n)
    return ([[-e "local t = {} for i = 1, %d do t[i] = function() t[i + 1]() end end ]] ..
            [[t[%d] = function() error('deep') end t[1]()"]]):format(n, n + 1)
  end

  for _, case in ipairs({
    { "a stack too deep to show whole (lua cuts it)", deep(30) },
    { "a stack just deep enough to cut", deep(21) },
    { "a stack lua shows whole that the driver's frames would cut", deep(17) },
    { "another one", deep(19) },
    { "an error object with __tostring (no traceback)",
      [[-e "error(setmetatable({}, {__tostring = function() return 'custom' end}))"]] },
    { "an -e chunk", [[-e "error('x')"]] },
    { "a message with a NUL byte (lua prints up to it)", [[-e "error('a\0b')"]] },
    { "a script's nested functions", q(script) },
    { "a module that -l cannot find", "-l corral_no_such_module" },
    { "a second -e after a good one", [[-e "y = 1" -e "local t = nil; t.x = 1"]] },
  }) do
    it("shows the user's frames only, as lua: " .. case[1], function()
      local mine, code = stderr_of(BIN, case[2])
      local lua, lua_code = stderr_of("lua5.4", case[2])
      assert.equal(lua_code, code)
      assert.equal(lua, mine)
      assert.no_match("corral%.cli", mine)
    end)
  end

  it("shows none of its frames in an ErrorGroup's tracebacks either", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("local corral = require 'corral'\n",
            "corral.group(function(g)\n",
            "  g:spawn(function() corral.sleep(1) end)\n",
            "  corral.group(function() error('inner body failed') end)\n",
            "end)\n")
    f:close()
    local err, code = stderr_of(BIN, q(path))
    os.remove(path)
    assert.equal(1, code)
    assert.matches("inner body failed", err)
    assert.matches("in main chunk\n%s*%[C%]: in %?", err)
    assert.no_match("corral%.cli", err)
    assert.no_match("xpcall", err)
  end)

  it("names an error whose __tostring raises, with where it was raised", function()
    -- (lua prints the __tostring's own error there: the one place the
    -- command differs, so that the real error's origin is not hidden)
    local err, code = stderr_of(BIN,
      [[-e "error(setmetatable({}, {__tostring = function() error('ts fails') end}))"]])
    assert.equal(1, code)
    assert.matches("__tostring failed", err)
    assert.matches("stack traceback:\n\t%[C%]: in function 'error'\n\t%(command line%):1: in main chunk\n\t%[C%]: in %?", err)
  end)
end)
