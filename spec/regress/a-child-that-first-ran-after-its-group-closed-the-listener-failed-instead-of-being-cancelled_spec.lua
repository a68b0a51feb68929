-- A child spawned to accept on a listener, or wait for a process, that first
-- ran after its group was cancelled and the body's `<close>` had closed that
-- listener or process, raised "attempt to use a closed listener" (or
-- process) at its first cancellation point: a failure of the group, an
-- ErrorGroup out of a plain g:cancel(). (Seen under a schedule seed, where
-- the body ran on before the child's first turn.) Like a stream's read, a
-- blocking call on a closed object now raises a cancelled task's Cancelled
-- first.
local corral = require "corral"

local function run_child(call)
  local reached = false
  corral.run(function()
    corral.group(function(g)
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local p <close> = corral.exec("/bin/true", {})
      g:spawn(function()
        if call == "accept" then l:accept() else p:wait() end
        reached = true
      end)
      g:cancel()
    end)             -- l and p close here, before the child's first turn
  end, { clock = "virtual" })
  return reached
end

describe("regression: a child that first ran after its group closed the listener", function()
  it("is cancelled at listener:accept, not a failure of the group", function()
    assert.is_false(run_child("accept"))
  end)

  it("is cancelled at process:wait, not a failure of the group", function()
    assert.is_false(run_child("wait"))
  end)

  it("still gets the closed-object error outside a cancelled scope", function()
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      l:close()
      local ok, err = pcall(l.accept, l)
      assert.is_false(ok)
      assert.equal("listener:accept: attempt to use a closed listener", err)
      local p = corral.exec("/bin/true", {})
      p:close()
      ok, err = pcall(p.wait, p)
      assert.is_false(ok)
      assert.matches("process:wait: attempt to use a closed process", err, 1, true)
    end, { clock = "virtual" })
  end)
end)
