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

  for _, case in ipairs({
    { "an -e chunk", [[-e "error('x')"]] },
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
end)
