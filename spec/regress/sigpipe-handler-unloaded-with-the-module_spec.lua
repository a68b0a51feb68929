-- The SIGPIPE handler corral installs is code of corral.so; lua_close
-- unloaded the module and left the handler pointing into unmapped memory:
-- a later EPIPE (exit() flushing stdout into a closed pipe) crashed lua5.4
-- with SIGSEGV. The module is linked -z nodelete.
local SCRIPT = [[
local c = require "corral"
c.run(function() c.sleep(0.05) end)
io.write("hello\n")   -- buffered: written by exit(), after lua_close
]]

describe("regression: SIGPIPE after lua_close unloaded corral.so", function()
  it("a write into a closed pipe at exit does not crash the interpreter", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(SCRIPT)
    f:close()
    local cmd = ("LUA_CPATH=%q bash -c 'lua5.4 %s | true; echo \"status=${PIPESTATUS[0]}\"'")
      :format(package.cpath, path)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    os.remove(path)
    assert.equal("status=0\n", out)
  end)
end)
