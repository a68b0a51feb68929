-- Locks and semaphores shared one set of methods, each taking either: the
-- lock's release given a semaphore added it a permit, a lock's `with` ran
-- on a semaphore, and a semaphore's release given a lock said "lock:release".
-- Each type's methods now take that type only, as every other type's do.
local corral = require "corral"
local support = require "support"

describe("regression: a lock's release added a permit to a semaphore", function()
  it("each refuses the other type, naming the method and the type", function()
    support.vrun(function()
      local lock, sem = corral.lock(), corral.semaphore(1)
      local ok, err = pcall(lock.release, sem)
      assert.is_false(ok)
      assert.matches("corral.Lock expected, got corral.Semaphore", err, 1, true)
      assert.equal(1, sem.value)
      ok, err = pcall(sem.release, lock)
      assert.is_false(ok)
      assert.matches("corral.Semaphore expected, got corral.Lock", err, 1, true)
      ok, err = pcall(lock.with, sem, function() end)
      assert.is_false(ok)
      assert.matches("corral.Lock expected", err, 1, true)
      for _, m in ipairs({"acquire", "try_acquire"}) do
        assert.is_false(pcall(lock[m], sem))
        assert.is_false(pcall(sem[m], lock))
      end
      assert.equal(1, sem.value)
      assert.is_false(lock.locked)
    end)
  end)

  it("each still works on its own type", function()
    support.vrun(function()
      local lock, sem = corral.lock(), corral.semaphore(2)
      assert.equal("x", lock:with(function() return "x" end))
      sem:acquire(); sem:release()
      assert.is_true(lock:try_acquire()); lock:release()
      assert.equal(2, sem.value)
    end)
  end)
end)
