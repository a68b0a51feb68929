-- corral.host.wait_stop(5) (a C host's root waiting for the host's stop)
-- took the 5 for nothing and waited for ever, the mistake every other
-- blocking call refuses ("arguments past the last are refused", api.md):
-- it now raises, saying to put a timeout around the call, and
-- corral.host.stopping(x) refuses its argument too. Called where Lua sees no
-- name for them (pcall), their errors said '?': corral.host is now also
-- package.loaded["corral.host"], so they say 'corral.host.wait_stop'.
-- Run in the example host (examples/host/hashhost.c), built beside the
-- corral command.
local converse = require "converse"
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local HOST = BIN:gsub("[^/]*$", "") .. "examples/corral-host-example"

local function in_host(code)
  local path = converse.tmpfile(code)
  local p = assert(io.popen(("%s --time-limit 2 %s 2>&1"):format(HOST, path)))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

describe("regression: a timeout given to corral.host.wait_stop was dropped", function()
  it("refuses arguments to wait_stop and stopping, naming them", function()
    local out = in_host([[
      local corral = require "corral"
      print(pcall(function() return corral.host.wait_stop(5) end))
      print(pcall(corral.host.wait_stop, 0.1))
      print(pcall(corral.host.stopping, false))
      print("stopping:", corral.host.stopping())
      print("timed:", corral.move_on_after(0.01, corral.host.wait_stop))
    ]])
    assert.matches("bad argument #1 to 'wait_stop' (no argument expected: a timeout is "
      .. "corral.move_on_after or corral.fail_after around the call)", out, 1, true)
    assert.matches("bad argument #1 to 'corral.host.wait_stop' (no argument expected",
      out, 1, true)
    assert.matches("bad argument #1 to 'corral.host.stopping' (no argument expected)",
      out, 1, true)
    assert.matches("stopping:\tfalse", out, 1, true)
    assert.matches("timed:\tfalse", out, 1, true)
  end)
end)
