-- A task's end looks for lock notes only while the run's count of tasks
-- that noted a lock is above 0. A task whose rare fields were replaced
-- (debug.setuservalue) with a table holding a `locks` table of its own, and
-- which never noted a lock, took one off that count as it ended: the task
-- that really held a lock then ended with the count at 0, nothing looked,
-- and the lock stayed held, unbroken, its waiters waiting for ever.
local corral = require "corral"
local support = require "support"

describe("regression: a forged lock note", function()
  it("does not hide a lock its holder ended holding", function()
    local lock = corral.lock()
    support.vrun(function()
      corral.group(function(g)
        local holder = g:spawn(function() lock:acquire(); corral.sleep(2) end)
        local other = g:spawn(function() corral.sleep(1) end)
        debug.setuservalue(other, { locks = {} }, 2)
        holder:wait()
      end)
    end)
    assert.is_true(lock.broken)
  end)

  it("does not hide it when another task's notes were copied", function()
    local lock, spare = corral.lock(), corral.lock()
    support.vrun(function()
      corral.group(function(g)
        local holder = g:spawn(function() lock:acquire(); corral.sleep(2) end)
        local noted = g:spawn(function() spare:acquire(); spare:release(); corral.sleep(3) end)
        corral.sleep(0.5)
        for _ = 1, 2 do
          local other = g:spawn(function() corral.sleep(1) end)
          debug.setuservalue(other, debug.getuservalue(noted, 2), 2)
        end
        holder:wait()
      end)
    end)
    assert.is_true(lock.broken)
  end)
end)
