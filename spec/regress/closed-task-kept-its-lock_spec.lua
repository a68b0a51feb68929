-- A task inside lock:with() whose coroutine a copy of coroutine.close (taken
-- before require "corral") took kept the lock for ever: with() never got to
-- release it, and every later acquire waited until the deadlock report.
-- lock:with now marks the lock to-be-closed in its own frame, so the close
-- releases it (a lock holder is known by task id: exact).
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local coroutine_of = support.task_coroutine

describe("regression: a task closed from outside inside lock:with", function()
  it("gives the lock back", function()
    local locked_after, got
    support.vrun(function()
      local mu = corral.lock()
      corral.group(function(outer)
        outer:spawn(function()
          pcall(corral.group, function(g)
            local a = g:spawn(function() mu:with(function() corral.sleep(10) end) end)
            corral.sleep(1)
            raw_close(coroutine_of(a))
          end)
        end)
        corral.sleep(2)
        locked_after = mu.locked
        got = mu:with(function() return "acquired" end)
      end)
    end)
    assert.is_false(locked_after)
    assert.equal("acquired", got)
  end)

  it("gives back a lock handed to it while it waited in with", function()
    local got
    support.vrun(function()
      local mu = corral.lock()
      mu:acquire()
      corral.group(function(outer)
        local a
        outer:spawn(function()
          pcall(corral.group, function(g)
            a = g:spawn(function() mu:with(function() end) end)
            corral.sleep(10)
          end)
        end)
        corral.sleep(1)
        mu:release()                       -- handed to a, which has not run
        raw_close(coroutine_of(a))
        got = mu:with(function() return "acquired" end)
      end)
    end)
    assert.equal("acquired", got)
  end)

  it("leaves a lock alone that with() already gave back, and <close> on a lock is harmless", function()
    local n = 0
    support.vrun(function()
      local mu <close> = corral.lock()
      for _ = 1, 3 do mu:with(function() n = n + 1 end) end
      assert.is_false(mu.locked)
      mu:acquire()
      assert.is_true(mu.locked)
      mu:release()
    end)
    assert.equal(3, n)
  end)
end)
