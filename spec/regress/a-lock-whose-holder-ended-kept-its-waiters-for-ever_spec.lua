-- A task that ended holding a lock (acquired without lock:with or a <close>
-- variable) left it held for good: its waiters waited for ever, a deadlock
-- when nothing else ran and a hang when something did. The lock is now
-- broken, as Trio's is (trio#3035): its waiters wake with an error, every
-- later acquire or with raises one, and releasing it outside a run mends it.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local BROKEN = "the lock is broken: the task that held it %(#%d+%) ended without releasing it"

describe("regression: a lock whose holder ended", function()
  it("wakes every waiter with an error (Trio's test_lock_multiple_acquire)", function()
    local lock = corral.lock()
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn(function() lock:acquire(); corral.sleep(2) end)
        g:spawn({ function() corral.sleep(1); lock:acquire() end, name = "second" })
        g:spawn({ function() corral.sleep(1); lock:with(function() end) end, name = "third" })
      end, { defer_errors = true })
    end)
    assert.equal(2, #eg)
    local by = {}
    for i, name in ipairs(eg.tasks) do by[name] = eg.errors[i] end
    assert.matches("lock:acquire: " .. BROKEN, by.second)
    assert.matches("lock:with: " .. BROKEN, by.third)
  end)

  it("raises at the next acquire, even with another task alive (Trio's unowned lock)", function()
    local lock, err, elapsed = corral.lock()
    vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(100) end)      -- keeps the run alive
        corral.group(function(g2) g2:spawn(function() lock:acquire() end) end)
        local t0 = corral.now()
        local ok, e = pcall(lock.acquire, lock)
        assert.is_false(ok)
        err, elapsed = e, corral.now() - t0
        assert.is_true(lock.broken)
        assert.is_true(lock.locked)
        assert.is_false(lock:try_acquire())
        g:cancel()
      end)
    end)
    assert.matches(BROKEN, err)
    assert.equal(0, elapsed)
  end)

  it("breaks when the holder is cancelled holding it, and not when with() or <close> held it", function()
    local a, b, c = corral.lock(), corral.lock(), corral.lock()
    vrun(function()
      corral.group(function(g)
        local t = g:spawn(function() a:acquire(); corral.sleep(math.huge) end)
        g:spawn(function() b:with(corral.sleep, math.huge) end)
        g:spawn(function() c:acquire(); local _ <close> = c; corral.sleep(math.huge) end)
        corral.sleep(1)
        g:cancel()
        local _ = t
      end)
    end)
    assert.is_true(a.broken)
    assert.is_false(b.broken)
    assert.is_false(b.locked)
    assert.is_false(c.broken)
    assert.is_false(c.locked)
  end)

  it("a waiter that is cancelled meanwhile gets its Cancelled", function()
    local lock = corral.lock()
    local got
    vrun(function()
      corral.group(function(g)
        g:spawn(function() lock:acquire(); corral.sleep(1) end)
        g:spawn(function()
          corral.sleep(0.1)
          corral.scope(function()
            local ok, e = pcall(lock.acquire, lock)
            got = corral.is_cancelled(e) and "cancelled" or tostring(e)
            assert.is_false(ok)
            error(e, 0)
          end, { timeout = 0.5 })
        end)
      end)
    end)
    assert.equal("cancelled", got)
  end)

  it("breaks when the run abandons its holder at a deadlock cancelling could not end", function()
    local lock = corral.lock()
    local ok, err = pcall(support.unwrapped_run(), function()   -- (it abandons a task)
      corral.group(function(g)
        g:spawn(function()
          lock:acquire()
          local ev = corral.event()
          pcall(ev.wait, ev)                              -- swallows the cancel
          corral.scope(function() ev:wait() end, { shield = true })
        end)
      end)
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("even after cancelling", tostring(err))
    assert.is_true(lock.broken)
    ok, err = pcall(vrun, function() lock:acquire() end)
    assert.is_false(ok)
    assert.matches("of an earlier run%) ended without releasing it", err)
  end)

  it("stays broken for the next run, and a release outside any run mends it", function()
    local lock = corral.lock()
    vrun(function() lock:acquire() end)               -- the root ends holding it
    local ok, err = pcall(vrun, function() lock:acquire() end)
    assert.is_false(ok)
    assert.matches(BROKEN:gsub("%%%)", " of an earlier run%%)"), err)
    lock:release()
    assert.is_false(lock.broken)
    local got = false
    vrun(function() lock:with(function() got = true end) end)
    assert.is_true(got)
  end)
end)
