-- A task inside semaphore:with() whose coroutine a copy of coroutine.close
-- (taken before require "corral") took kept its permit for ever: with()
-- never got to give it back, so the semaphore had one permit fewer from then
-- on (lock:with was fixed for this; a semaphore's with is its only way to
-- hold a permit safely, as a semaphore is not closable).
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local coroutine_of = support.task_coroutine

-- Spawn body in a group of its own that the close may fail, run between(a)
-- once a is parked, and return the semaphore's value after all that.
local function closed_in_with(sem, body, between)
  local value, waiting
  support.vrun(function()
    corral.group(function(outer)
      local a
      outer:spawn(function()
        pcall(corral.group, function(g)
          a = g:spawn(body)
          corral.sleep(10)
        end)
      end)
      corral.sleep(1)
      between()
      raw_close(coroutine_of(a))
      corral.sleep(20)
      value, waiting = sem.value, sem.waiting
    end)
  end)
  return value, waiting
end

describe("regression: a task closed from outside inside semaphore:with", function()
  it("gives back the permit it held in the body", function()
    local sem = corral.semaphore(2)
    local value = closed_in_with(sem, function()
      sem:with(function() corral.sleep(100) end)
    end, function() end)
    assert.equal(2, value)
  end)

  it("gives back a permit handed to it while it waited in with", function()
    local sem = corral.semaphore(0)
    local value = closed_in_with(sem, function()
      sem:with(function() end)
    end, function() sem:release() end)   -- handed to the task, not run yet
    assert.equal(1, value)
  end)

  it("takes no permit when closed while it still waited", function()
    local sem = corral.semaphore(0)
    local value, waiting = closed_in_with(sem, function()
      sem:with(function() end)
    end, function() end)
    assert.equal(0, value)
    assert.equal(0, waiting)
  end)

  it("gives each permit back once: with() that returned, raised or was cancelled", function()
    support.vrun(function()
      local sem = corral.semaphore(2)
      sem:with(function() end)
      pcall(sem.with, sem, function() error("x") end)
      corral.move_on_after(1, sem.with, sem, corral.sleep, 5)
      assert.equal(2, sem.value)
      assert.equal(6, select("#", sem:with(function() return 1, 2, 3, nil, 5, nil end)))
    end)
  end)
end)
