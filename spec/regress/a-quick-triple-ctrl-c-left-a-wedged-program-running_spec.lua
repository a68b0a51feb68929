-- spec/regress/a-quick-triple-ctrl-c-left-a-wedged-program-running_spec.lua
--
-- Broke (between two commits of one session): once three arrivals the loop had
-- not delivered killed only when the first of them was old enough (so that a
-- storm of signals at a program waiting for them does not kill it), a quick
-- triple Ctrl-C at a wedged program (an endless loop inside a generator, which
-- the run's hook does not reach) left it running until a fourth arrival. The
-- third now arms a check that kills when the first is half a second old, if the
-- loop has still delivered none.

local converse = require "converse"

local WEDGED = [[
local corral = require "corral"
io.stdout:setvbuf("no")
%s
RUN(function()
  -- three Ctrl-C well inside half a second, while wedged (a signal sent
  -- while the same one is still pending is merged with it: 0.1 s apart, so
  -- that a loaded machine that leaves the program unscheduled for a few
  -- tens of milliseconds does not merge two of them)
  local p = corral.exec("/bin/sh", { "-c", [=[
    sleep 0.05; kill -INT $PPID; sleep 0.1; kill -INT $PPID
    sleep 0.1; kill -INT $PPID; exec sleep 30]=] })
  print("wedged")
  coroutine.wrap(function() local x = 0 while true do x = x + 1 end end)()
end)
]]

local TRIPLE = { { expect = "wedged" } }

describe("three quick Ctrl-C at a program wedged in a generator", function()
  it("kill it, under the corral command", function()
    local r = converse.corral(WEDGED:format(converse.RUN_UNDER_COMMAND), TRIPLE)
    assert.equal(1, r.reached, r.stdout .. r.stderr)
    assert.equal("SIGINT", r.signal, r.stdout .. r.stderr)
  end)

  it("kill it, under run{signals = true}", function()
    local r = converse.lua(WEDGED:format(converse.RUN_UNDER_LUA), TRIPLE)
    assert.equal(1, r.reached, r.stdout .. r.stderr)
    assert.equal("SIGINT", r.signal, r.stdout .. r.stderr)
  end)
end)
