-- A channel value (or a freed slot, a lock, a task's result) handed to a waiting
-- task, then a t:cancel of that task before it ran again: the call returned the
-- value ("a wake-up that has been delivered wins") but the task, returning
-- without another cancellation point, ended "cancelled" and t:wait() dropped its
-- results. So `g:spawn(q.recv, q)` lost the item, and a `g:spawn(q.send, q, v)`
-- whose value was delivered read as not sent: CPython's test_queues
-- (test_get_cancel_drop_one_pending_reader, test_put_cancel_drop) lost an item or
-- sent it twice. A cancel that comes after the task's wait ended is too late for
-- that wait: the task ends "done" with its results unless it meets another
-- cancellation point; a cancel that came before the wake-up (hidden by a shield)
-- or a task's cancel of itself is still owed.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun, blocked = support.vrun, testing.wait_all_tasks_blocked

describe("regression: a task cancelled after a wake-up was handed to it", function()
  it("keeps a received value as its result", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local reader = g:spawn(q.recv, q)
        blocked()
        q:send(1)
        q:send(2)
        reader:cancel()
        assert.same({ true, 1 }, { reader:wait() })
        assert.equal("done", reader.status)
        assert.equal(2, q:recv())
      end)
    end)
  end)

  it("reports a delivered send as done, so it is not sent again", function()
    vrun(function()
      local q = corral.channel(1)
      q:send(1)
      corral.group(function(g)
        local writer = g:spawn(q.send, q, 2)
        blocked()
        assert.equal(1, q:recv()) -- the freed slot takes the writer's 2
        writer:cancel()
        assert.is_true((writer:wait()))
      end)
      assert.equal(2, q:try_recv())
      assert.equal(0, #q)
    end)
  end)

  it("does the same for a lock handed over", function()
    vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        lock:acquire()
        local taker = g:spawn(function() lock:acquire(); lock:release(); return "locked" end)
        blocked()
        lock:release() -- hands the lock to the taker
        taker:cancel()
        assert.same({ true, "locked" }, { taker:wait() })
      end)
      assert.is_false(lock.locked)
    end)
  end)

  it("and for a sleep that ended and a task joined #fifo", function()
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        local sleeper, joined, joiner
        sleeper = g:spawn(function() corral.sleep(1); return "slept" end)
        corral.sleep(1) -- set after the sleeper's: woken after it, run before it
        sleeper:cancel()
        assert.same({ true, "slept" }, { sleeper:wait() })
        joined = g:spawn(function() ev:wait(); return "joined" end)
        joiner = g:spawn(function() return select(2, joined:wait()) end)
        blocked()
        ev:set()
        corral.checkpoint() -- the joined task ends and wakes the joiner
        joiner:cancel()
        assert.same({ true, "joined" }, { joiner:wait() })
      end)
    end)
  end)

  it("still raises at the task's next cancellation point", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local reader = g:spawn(function() local v = q:recv(); corral.checkpoint(); return v end)
        blocked()
        q:send(1)
        reader:cancel("late")
        local ok, c = reader:wait()
        assert.is_false(ok)
        assert.equal("late", c.reason)
        assert.equal("cancelled", reader.status)
      end)
    end)
  end)

  it("leaves a cancel that came before the wake-up, or the task's own, owed", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local shielded = g:spawn(function()
          return corral.scope(function() return q:recv() end, { shield = true })
        end)
        blocked()
        shielded:cancel() -- while it waits: the shield hides it
        q:send(1)
        assert.is_false((shielded:wait()))
        assert.equal("cancelled", shielded.status)
        local own = g:spawn(function()
          local v = q:recv()
          corral.current_task():cancel()
          return v
        end)
        blocked()
        q:send(2)
        assert.is_false((own:wait()))
        assert.equal("cancelled", own.status)
      end)
    end)
  end)
end)
