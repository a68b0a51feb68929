-- A run whose debug_signal was also waited for in corral.signal, or that
-- waited for SIGCHLD after starting a process, left the signal caught by
-- libuv's handler once it returned: the next SIGUSR1 was swallowed instead
-- of ending the process. corral took libuv's handler (installed by the
-- debug watcher, or by libuv's own watcher of its children) for what the
-- signal had before, and put it back. The debug watcher is counted as
-- corral's own now, and libuv's handler is never what comes back.
local corral = require "corral"

-- Whether this process catches signal `sig` (Linux: /proc/self/status).
local function caught(sig)
  for line in io.lines("/proc/self/status") do
    local mask = line:match("^SigCgt:%s*(%x+)")
    if mask then return (tonumber(mask, 16) >> (sig - 1)) & 1 == 1 end
  end
end
local SIGUSR1, SIGCHLD = 10, 17

describe("regression: a signal waited for in a run", function()
  it("is not left caught when it was also the run's debug_signal", function()
    assert.is_false(caught(SIGUSR1))
    corral.run(function()
      corral.move_on_after(0.01, corral.signal, "SIGUSR1")
    end, { debug_signal = "SIGUSR1" })
    assert.is_false(caught(SIGUSR1))
    corral.run(function()                   -- the waiter's watcher first
      corral.group(function(g)
        g:spawn(corral.move_on_after, 0.01, corral.signal, "SIGUSR1")
      end)
    end, { debug_signal = "SIGUSR1" })
    assert.is_false(caught(SIGUSR1))
  end)

  it("is not left caught for SIGCHLD after a process ran", function()
    local before = caught(SIGCHLD)
    corral.run(function()
      local p <close> = corral.exec("/bin/true")
      p:wait()
      corral.move_on_after(0.01, corral.signal, "SIGCHLD")
    end)
    assert.equal(before, caught(SIGCHLD))
  end)
end)
