-- spec/regress/a-storm-of-sigints-killed-a-program-waiting-for-them_spec.lua
--
-- Broke: a program that waits for SIGINT in a loop (rule 1: a signal some task
-- waits for is the program's) was killed by a fast stream of them (a shell's
-- `kill` in a loop sends some 50,000 a second). Two causes: an arrival while the
-- waiter it woke had not run yet (the run ends its pass of tasks as soon as a
-- signal arrives, so the next poll came first) found nobody waiting and
-- cancelled the root, and the next one killed (rule 3); and three arrivals
-- before the loop had delivered one were taken for "every task busy" and killed
-- at once. Now the same signal again before the waiters it woke have run is the
-- same arrival, and three undelivered arrivals kill only once the first of them
-- is a tenth of a second old (a loop that turns delivers sooner).

local converse = require "converse"

local STORM = [[
local corral = require "corral"
io.stdout:setvbuf("no")
local n = 0
%s
RUN(function()
  corral.group(function(g)
    g:spawn(function()
      while true do corral.signal("SIGINT"); n = n + 1 end
    end)
    g:spawn(function()
      corral.signal("SIGTERM")          -- the storm's end
      print("storm over", n > 0)
      g:cancel()
    end)
    corral.checkpoint()                 -- both waiters parked
    local p <close> = corral.exec("/bin/sh", { "-c", [=[
      i=0
      while [ $i -lt 20000 ]; do kill -INT $PPID || exit 1; i=$((i+1)); done
      kill -TERM $PPID]=] })
    p:wait()
  end)
end)
print("left")
]]

describe("a storm of SIGINTs at a program that waits for each", function()
  it("wakes the waiter, and kills nothing, under the corral command", function()
    local r = converse.corral(STORM:format(converse.RUN_UNDER_COMMAND))
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.same({ "storm over\ttrue", "left" }, converse.lines(r.stdout))
  end)

  it("wakes the waiter, and kills nothing, under run{signals = true}", function()
    local r = converse.lua(STORM:format(converse.RUN_UNDER_LUA))
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.same({ "storm over\ttrue", "left" }, converse.lines(r.stdout))
  end)
end)
