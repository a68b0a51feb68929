-- spec/regress/a-sigchld-after-the-last-process-closed-was-raised-for-ever_spec.lua
--
-- Broke (0.21 before release, found by a verifier): a dropped SIGCHLD is
-- raised again for libuv to reap, found by setting SIGCHLD's arrivals
-- against what libuv wrote for its child watcher. Once the run's last
-- process had closed, libuv stopped that watcher and wrote nothing for it,
-- so every SIGCHLD after that (a child of os.execute's) read as a drop, and
-- each raise as one more: a program waiting in corral.signal("SIGCHLD")
-- woke some 90,000 times a second, one core busy for ever. The child
-- watcher is only reconciled while it runs, and counted afresh when a
-- spawn starts it again.
local corral = require "corral"

describe("regression: a SIGCHLD after the run's last process closed", function()
  it("is delivered once, not raised for ever", function()
    local woke, cpu
    corral.run(function()
      corral.group(function(g)
        local n = 0
        local t = g:spawn(function()
          while true do corral.signal("SIGCHLD"); n = n + 1 end
        end)
        do local p <close> = corral.exec("true", {}); p:wait() end
        corral.sleep(0.05)
        n = 0
        local c0 = os.clock()
        os.execute("true")                -- a child libuv does not know
        corral.sleep(0.2)
        woke, cpu = n, os.clock() - c0
        t:cancel()
      end)
    end)
    assert.is_true(woke <= 2, "the SIGCHLD waiter woke " .. woke .. " times")
    assert.is_true(cpu < 0.1, "busy for " .. cpu .. " s of CPU")
  end)
end)
