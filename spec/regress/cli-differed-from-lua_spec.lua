-- The command differed from lua where lua's own test of its interpreter
-- (testes/main.lua) looks: started with stdin, stdout or stderr closed it
-- aborted inside libuv (an fd of its loop landed on 0-2); `-l` alone kept it
-- from reading the script from stdin; the script's arguments ignored what
-- an -e had done to `arg`, and `arg` replaced by a non-table went unnoticed;
-- an error in LUA_INIT had no traceback; `-- -` read stdin where lua
-- runs the file named "-"; and `-l =mod` or `-l g=` were taken whole as a
-- module's name, where lua splits at the first "=".
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

-- Run a shell command line (BIN is $B); its stdout, stderr and exit code.
local function sh(line, env)
  local out, err = os.tmpname(), os.tmpname()
  local cmd = ("B=%s; (%s %s) >%s 2>%s; echo $?"):format(q(BIN), env and "export " .. env .. ";" or "",
                                                        line, q(out), q(err))
  local p = assert(io.popen(cmd))
  local code = tonumber(p:read("a"))
  p:close()
  local function slurp(path)
    local f = assert(io.open(path, "rb")); local t = f:read("a"); f:close(); os.remove(path)
    return t
  end
  return slurp(out), slurp(err), code
end

describe("regression: the command against lua", function()
  it("runs with stdin, stdout or stderr closed", function()
    for _, redir in ipairs({ "<&-", ">&-", "2>&-" }) do
      local _, err, code = sh('"$B" -e "x = 1" ' .. redir)
      assert.equal(0, code, redir .. ": " .. err)
    end
  end)

  it("reads the script from stdin after -l, as lua does", function()
    local out, _, code = sh([[echo 'print("hi")' | "$B" -lstring]])
    assert.equal("hi\n", out)
    assert.equal(0, code)
  end)

  it("takes the script's arguments from arg as -e left it", function()
    local out = sh([[echo 'print(...)' | "$B" -e 'arg[1] = 100' -]])
    assert.equal("100\n", out)
  end)

  it("refuses an arg that is not a table, as lua does", function()
    local _, err, code = sh([[echo '' | "$B" -e 'arg = 1' -]])
    assert.matches(": 'arg' is not a table\n$", err)
    assert.equal(1, code)
  end)

  it("prints a traceback for an error in LUA_INIT", function()
    local _, err, code = sh([["$B" -e 'print(1)']], "LUA_INIT='error(\"from init\")'")
    assert.matches("LUA_INIT:1: from init\nstack traceback:", err)
    assert.equal(1, code)
  end)

  it("runs the file named - after --", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local f = assert(io.open(dir .. "/-", "w"))
    f:write('print("the file")\n')
    f:close()
    local out = sh(("cd %s && echo 'print(\"stdin\")' | \"$B\" -- -"):format(q(dir)))
    os.remove(dir .. "/-")
    os.remove(dir)
    assert.equal("the file\n", out)
  end)

  it("splits -l at the first =, as lua does", function()
    for _, a in ipairs({ "=string", "g=", "s=string", "t=table=x" }) do
      local line = ([["%s" -l '%s' -e 'print(type(_G[""]), type(s), type(g), type(t))']])
      local mine, mine_err, mine_code = sh(line:format("$B", a))
      local lua, lua_err, lua_code = sh(line:format("lua5.4", a))
      assert.equal(lua, mine, a)
      assert.equal(lua_code, mine_code, a)
      assert.equal((lua_err:gsub("^lua5.4: ", ""):match("^[^\n]*")),
                   (mine_err:gsub("^[^:]*: ", "", 1):match("^[^\n]*")), a)
    end
  end)
end)
