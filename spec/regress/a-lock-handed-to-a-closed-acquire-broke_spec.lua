-- A task waiting in a plain lock:acquire() that was handed the lock (its
-- holder released it) and then closed from outside (a copy of
-- coroutine.close taken before require "corral") before it ran again broke
-- the lock: it ended as the lock's holder, though its acquire never
-- returned, so `l:acquire(); local _ <close> = l` never got to its <close>.
-- The waiters behind it got "the lock is broken" where the lock was free.
-- As with() does, and a semaphore's with() does for its permit, the wait
-- now gives back a lock handed to it that it never took.
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local coroutine_of = support.task_coroutine

describe("regression: a lock handed to a task closed from outside in acquire", function()
  it("goes to the next waiter, not broken", function()
    local got, broken
    support.vrun(function()
      local mu = corral.lock()
      mu:acquire()
      corral.group(function(outer)
        local a
        outer:spawn(function()
          pcall(corral.group, function(g)
            a = g:spawn(function() mu:acquire(); local _ <close> = mu end)
            corral.sleep(10)
          end)
        end)
        corral.sleep(1)
        local w = outer:spawn(function()
          return corral.scope(function() mu:acquire(); mu:release(); return "acquired" end,
                              { shield = true })
        end)
        corral.sleep(1)
        mu:release()                       -- handed to a, which has not run
        raw_close(coroutine_of(a))
        got = select(2, w:wait())
        broken = mu.broken
      end)
    end)
    assert.equal("acquired", got)
    assert.is_false(broken)
  end)

  it("still breaks a lock the task's acquire returned", function()
    local broken
    support.vrun(function()
      local mu = corral.lock()
      corral.group(function(outer)
        local a
        outer:spawn(function()
          pcall(corral.group, function(g)
            a = g:spawn(function() mu:acquire(); corral.sleep(10) end)
            corral.sleep(10)
          end)
        end)
        corral.sleep(1)
        raw_close(coroutine_of(a))
        corral.sleep(1)
        broken = mu.broken
      end)
    end)
    assert.is_true(broken)
  end)
end)
