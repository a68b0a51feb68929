-- spec/sync_spec.lua: events, locks, semaphores and channels (docs/api.md):
-- FIFO hand-offs to the longest waiter, closing a channel, every blocking call as a
-- cancellation point, cancelled waiters leaving their queues cleanly, and a
-- delivered hand-off winning over a cancel that arrives in the same turn.
local corral = require "corral"
local support = require "support"

local vrun, now = support.vrun, corral.now

-- Call fn(...) inside a scope cancelled on entry and return the Cancelled it raises.
-- The scope absorbs nothing: the error is caught here, so the caller goes on.
local function cancelled_in_scope(fn, ...)
  local args = table.pack(...)
  local err
  corral.scope(function(s)
    s:cancel("cancelled first")
    err = support.cancelled(fn, table.unpack(args, 1, args.n))
  end)
  assert.equal("cancelled first", err.reason)
  return err
end

describe("corral.event", function()
  it("starts unset; set() makes is_set() true, and setting it again changes nothing", function()
    local states
    vrun(function()
      local ev = corral.event()
      states = { ev:is_set() }
      ev:set()
      states[2] = ev:is_set()
      ev:set()
      states[3] = ev:is_set()
    end)
    assert.same({ false, true, true }, states)
  end)

  it("wait() on an event already set returns at once, with no results", function()
    local r, t
    vrun(function()
      local ev = corral.event()
      ev:set()
      corral.sleep(1)
      r = table.pack(ev:wait())
      t = now()
    end)
    assert.same({ n = 0 }, r)
    assert.equal(1, t)
  end)

  it("set() wakes every waiter at that moment", function()
    local log = support.log()
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        for i = 1, 3 do
          g:spawn(function()
            ev:wait()
            log:stamp("w" .. i .. " woke")
          end)
        end
        corral.sleep(2)
        log:stamp("setting")
        ev:set()
      end)
      ev:wait()
      log:stamp("a late waiter passed")
    end)
    assert.same({ "a late waiter passed@2", "setting@2", "w1 woke@2", "w2 woke@2", "w3 woke@2" }, log:sorted())
  end)

  it("wait() is a cancellation point: move_on_after releases a waiter on an unset event", function()
    local r, t, set
    vrun(function()
      local ev = corral.event()
      r = table.pack(corral.move_on_after(1.5, ev.wait, ev))
      t, set = now(), ev:is_set()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1.5, t)
    assert.is_false(set)
  end)

  it("wait() raises Cancelled in a cancelled scope even when the event is set", function()
    vrun(function()
      local ev = corral.event()
      ev:set()
      cancelled_in_scope(ev.wait, ev)
    end)
  end)

  it("a cancelled waiter leaves the queue: a later set() wakes the others and does not touch it", function()
    local log = support.log()
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        g:spawn(function()
          corral.move_on_after(1, ev.wait, ev)
          log:stamp("w1 gave up")
          corral.sleep(5) -- a stale queue link would let set() wake this sleep at 2
          log:stamp("w1 slept in full")
        end)
        g:spawn(function()
          ev:wait()
          log:stamp("w2 woke")
        end)
        corral.sleep(2)
        ev:set()
      end)
    end)
    assert.same({ "w1 gave up@1", "w2 woke@2", "w1 slept in full@6" }, log.items)
  end)

  it("delivered wins: a waiter woken by set() in the same turn as its cancel returns, and its next cancellation point raises", function()
    local log = support.log()
    local later
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        local scope
        g:spawn(function()
          corral.scope(function(s)
            scope = s
            ev:wait()
            log:stamp("wait returned")
            later = support.cancelled(corral.checkpoint)
            error(later, 0)
          end)
          log:stamp("scope absorbed it")
        end)
        corral.sleep(1)
        ev:set()
        scope:cancel("too late") -- same turn: the waiter has not run yet
      end)
    end)
    assert.same({ "wait returned@1", "scope absorbed it@1" }, log.items)
    assert.equal("too late", later.reason)
  end)

  it("10,000 waiters on one event, cancelled together by their group, all finish with Cancelled", function()
    local n = 10000
    local count = { cancelled = 0, other = 0 }
    local outsider_woke, set_after
    vrun(function()
      local ev = corral.event()
      corral.group(function(outer)
        outer:spawn(function()
          ev:wait()
          outsider_woke = now()
        end)
        corral.group(function(g)
          for _ = 1, n do
            g:spawn(function()
              local ok, e = pcall(ev.wait, ev)
              local kind = (not ok and corral.is_cancelled(e)) and "cancelled" or "other"
              count[kind] = count[kind] + 1
              if not ok then error(e, 0) end
            end)
          end
          corral.sleep(1)
          g:cancel("all of them")
        end)
        corral.sleep(1)
        set_after = ev:is_set()
        ev:set() -- the one waiter left in the queue is the outsider
      end)
    end)
    assert.same({ cancelled = n, other = 0 }, count)
    assert.is_false(set_after)
    assert.equal(2, outsider_woke)
  end)
end)

describe("corral.lock", function()
  it("is unlocked when created; acquire() locks it and release() unlocks it", function()
    local states
    vrun(function()
      local lock = corral.lock()
      states = { lock.locked }
      lock:acquire()
      states[2] = lock.locked
      lock:release()
      states[3] = lock.locked
    end)
    assert.same({ false, true, false }, states)
  end)

  it("lets one task in at a time, in the order they asked", function()
    local log = support.log()
    local inside, most, asked = 0, 0, {}
    vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        for i = 1, 5 do
          g:spawn(function()
            asked[#asked + 1] = i
            lock:acquire()
            inside = inside + 1
            most = math.max(most, inside)
            log:stamp("t" .. i .. " in")
            corral.sleep(1)
            inside = inside - 1
            lock:release()
          end)
        end
      end)
    end)
    assert.equal(1, most)
    assert.same(support.served(asked, function(i) return "t" .. i .. " in" end, function(k) return k - 1 end),
      log.items)
  end)

  it("hands a released lock to the longest waiter: the releaser cannot take it back first", function()
    local log = support.log()
    local locked_after_release
    vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        lock:acquire()
        g:spawn(function()
          lock:acquire()
          log:stamp("waiter got it")
          corral.sleep(1)
          lock:release()
        end)
        corral.sleep(1)
        lock:release()
        locked_after_release = lock.locked -- already the waiter's
        lock:acquire()
        log:stamp("releaser got it back")
        lock:release()
      end)
    end)
    assert.is_true(locked_after_release)
    assert.same({ "waiter got it@1", "releaser got it back@2" }, log.items)
  end)

  it("release() of a lock that is not held raises", function()
    local before, after
    vrun(function()
      local lock = corral.lock()
      before = support.raises(lock.release, lock)
      lock:acquire()
      lock:release()
      after = support.raises(lock.release, lock)
    end)
    support.assert_mentions(before, "lock:release: the lock is not held")
    support.assert_mentions(after, "lock:release: the lock is not held")
  end)

  it("release() by a task that does not hold the lock raises, and the lock stays held", function()
    local err, still_locked, unlocked
    vrun(function()
      local lock = corral.lock()
      lock:acquire()
      corral.group(function(g)
        g:spawn(function() err = support.raises(lock.release, lock) end)
      end)
      still_locked = lock.locked
      lock:release()
      unlocked = not lock.locked
    end)
    support.assert_mentions(err, "lock:release: the lock is held by another task")
    assert.is_true(still_locked)
    assert.is_true(unlocked)
  end)

  it("acquire() raises Cancelled in a cancelled scope even when the lock is free, and leaves it unlocked", function()
    local locked
    vrun(function()
      local lock = corral.lock()
      cancelled_in_scope(lock.acquire, lock)
      locked = lock.locked
    end)
    assert.is_false(locked)
  end)

  it("a waiter cancelled while blocked leaves the queue: the next waiter gets the lock", function()
    local log = support.log()
    local locked_after
    vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        lock:acquire()
        g:spawn(function()
          local ok = corral.move_on_after(1, lock.acquire, lock)
          log:stamp("a gave up (" .. tostring(ok) .. ")")
          corral.sleep(5) -- a stale queue link would wake this sleep with the lock at 2
          log:stamp("a slept in full")
        end)
        g:spawn(function()
          lock:acquire()
          log:stamp("b got it")
          corral.sleep(1)
          lock:release()
        end)
        corral.sleep(2)
        lock:release()
      end)
      locked_after = lock.locked
    end)
    assert.same({ "a gave up (false)@1", "b got it@2", "a slept in full@6" }, log.items)
    assert.is_false(locked_after)
  end)

  it("delivered wins: a waiter handed the lock in the same turn as its cancel holds it, and its next cancellation point raises", function()
    local log = support.log()
    local held, later, locked_after
    vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        local scope
        lock:acquire()
        g:spawn(function()
          corral.scope(function(s)
            scope = s
            lock:acquire()
            held = lock.locked
            log:stamp("acquire returned")
            later = support.cancelled(corral.checkpoint)
            lock:release()
            error(later, 0)
          end)
          log:stamp("scope absorbed it")
        end)
        corral.sleep(1)
        lock:release()
        scope:cancel("too late") -- same turn: the lock is already the waiter's
      end)
      locked_after = lock.locked
    end)
    assert.same({ "acquire returned@1", "scope absorbed it@1" }, log.items)
    assert.is_true(held)
    assert.equal("too late", later.reason)
    assert.is_false(locked_after)
  end)

  describe("with", function()
    it("calls fn with the arguments while holding the lock, returns all its results and releases", function()
      local r, during, after
      vrun(function()
        local lock = corral.lock()
        r = table.pack(lock:with(function(a, b)
          during = lock.locked
          return a, nil, b
        end, "x", "y"))
        after = lock.locked
      end)
      assert.same({ n = 3, "x", nil, "y" }, r)
      assert.is_true(during)
      assert.is_false(after)
    end)

    it("makes a second with() wait until the first body returns", function()
      local log, asked = support.log(), {}
      vrun(function()
        local lock = corral.lock()
        corral.group(function(g)
          for i = 1, 3 do
            g:spawn(function()
              asked[#asked + 1] = i
              lock:with(function()
                log:stamp("body " .. i .. " in")
                corral.sleep(1)
              end)
            end)
          end
        end)
      end)
      assert.same(support.served(asked, function(i) return "body " .. i .. " in" end, function(k) return k - 1 end),
        log.items)
    end)

    for _, case in ipairs({
      { when = "before blocking", pause = function() end },
      { when = "after blocking", pause = function() corral.sleep(1) end },
    }) do
      it("releases when fn raises " .. case.when .. " and re-raises the same error value", function()
        local boom = setmetatable({}, { __tostring = function() return "boom" end })
        local table_err, string_err, locked_after
        vrun(function()
          local lock = corral.lock()
          table_err = support.raises(lock.with, lock, function()
            case.pause()
            error(boom)
          end)
          string_err = support.raises(lock.with, lock, function()
            case.pause()
            error("plain message", 0)
          end)
          locked_after = lock.locked
        end)
        assert.is_true(rawequal(boom, table_err), "expected the very table that fn raised")
        assert.equal("plain message", string_err)
        assert.is_false(locked_after)
      end)
    end

    it("releases when its blocked body is cancelled by move_on_after, handing the lock to the next waiter then", function()
      local log = support.log()
      local locked_after
      vrun(function()
        local lock = corral.lock()
        corral.group(function(g)
          g:spawn(function()
            local ok = corral.move_on_after(1, lock.with, lock, function()
              log:stamp("body in")
              corral.sleep(10)
              log:add("unreached")
            end)
            log:stamp("moved on (" .. tostring(ok) .. ")")
          end)
          g:spawn(function()
            corral.sleep(0.5)
            lock:acquire()
            log:stamp("other got it")
            lock:release()
          end)
        end)
        locked_after = lock.locked
      end)
      assert.same({ "body in@0", "moved on (false)@1", "other got it@1" }, log.items)
      assert.is_false(locked_after)
    end)

    it("releases when another task cancels the scope around it", function()
      local log = support.log()
      local locked_after
      vrun(function()
        local lock = corral.lock()
        corral.group(function(g)
          local scope
          g:spawn(function()
            corral.scope(function(s)
              scope = s
              lock:with(corral.sleep, math.huge)
            end)
            log:stamp("scope exited")
          end)
          corral.sleep(3)
          scope:cancel()
        end)
        locked_after = lock.locked
      end)
      assert.same({ "scope exited@3" }, log.items)
      assert.is_false(locked_after)
    end)

    it("cancelled while waiting for the lock: fn does not run and the holder keeps the lock", function()
      local log = support.log()
      local locked_mid, locked_after
      vrun(function()
        local lock = corral.lock()
        corral.group(function(g)
          lock:acquire()
          g:spawn(function()
            local ok = corral.move_on_after(1, lock.with, lock, function() log:add("unreached") end)
            log:stamp("with gave up (" .. tostring(ok) .. ")")
          end)
          g:spawn(function()
            corral.sleep(0.5)
            lock:with(function() log:stamp("later with got it") end)
          end)
          corral.sleep(2)
          locked_mid = lock.locked
          lock:release() -- raises if the cancelled with() released the holder's lock
        end)
        locked_after = lock.locked
      end)
      assert.same({ "with gave up (false)@1", "later with got it@2" }, log.items)
      assert.is_true(locked_mid)
      assert.is_false(locked_after)
    end)

    it("raises Cancelled in a cancelled scope without calling fn, even when the lock is free", function()
      local called, locked
      vrun(function()
        local lock = corral.lock()
        cancelled_in_scope(lock.with, lock, function() called = true end)
        locked = lock.locked
      end)
      assert.is_nil(called)
      assert.is_false(locked)
    end)

    it("delivered wins: a with() handed the lock in the same turn as its cancel runs fn, whose first cancellation point raises, and releases", function()
      local log = support.log()
      local locked_after
      vrun(function()
        local lock = corral.lock()
        corral.group(function(g)
          local scope
          lock:acquire()
          g:spawn(function()
            corral.scope(function(s)
              scope = s
              lock:with(function()
                log:stamp("fn runs")
                corral.checkpoint()
                log:add("unreached")
              end)
            end)
            log:stamp("scope absorbed it")
          end)
          corral.sleep(1)
          lock:release()
          scope:cancel("too late")
        end)
        locked_after = lock.locked
      end)
      assert.same({ "fn runs@1", "scope absorbed it@1" }, log.items)
      assert.is_false(locked_after)
    end)
  end)
end)

describe("corral.semaphore", function()
  it("value counts the permits available; release() without acquire() adds one", function()
    local values
    vrun(function()
      local sem = corral.semaphore(2)
      values = { sem.value }
      sem:acquire()
      values[#values + 1] = sem.value
      sem:acquire()
      values[#values + 1] = sem.value
      sem:release()
      values[#values + 1] = sem.value
      sem:release()
      sem:release()
      values[#values + 1] = sem.value
    end)
    assert.same({ 2, 1, 0, 1, 3 }, values)
  end)

  it("rejects a negative number of permits", function()
    support.assert_arg_error(1, "semaphore", nil, function() corral.semaphore(-1) end)
  end)

  it("semaphore(0) blocks acquire() until someone releases", function()
    local t
    vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        g:spawn(function() corral.sleep(3); sem:release() end)
        sem:acquire()
        t = now()
      end)
    end)
    assert.equal(3, t)
  end)

  it("lets at most n tasks in at once, in the order they asked", function()
    local log = support.log()
    local inside, most, asked = 0, 0, {}
    vrun(function()
      local sem = corral.semaphore(2)
      corral.group(function(g)
        for i = 1, 6 do
          g:spawn(function()
            asked[#asked + 1] = i
            sem:with(function()
              inside = inside + 1
              most = math.max(most, inside)
              log:stamp("t" .. i .. " in")
              corral.sleep(1)
              inside = inside - 1
            end)
          end)
        end
      end)
    end)
    assert.equal(2, most)
    assert.same(support.served(asked, function(i) return "t" .. i .. " in" end, function(k) return (k - 1) // 2 end),
      support.by_time(log.items))
  end)

  it("hands a released permit to the longest waiter: the releaser cannot take it back first", function()
    local log = support.log()
    local value_after_release
    local asked = {}
    vrun(function()
      local sem = corral.semaphore(1)
      corral.group(function(g)
        sem:acquire()
        for i = 1, 2 do
          g:spawn(function()
            asked[#asked + 1] = i
            sem:acquire()
            log:stamp("w" .. i .. " got it")
            corral.sleep(1)
            sem:release()
          end)
        end
        corral.sleep(1)
        sem:release()
        value_after_release = sem.value -- already w1's
        sem:acquire()
        log:stamp("releaser got it back")
        sem:release()
      end)
    end)
    assert.equal(0, value_after_release)
    assert.same({ "w" .. asked[1] .. " got it@1", "w" .. asked[2] .. " got it@2", "releaser got it back@3" },
      log.items)
  end)

  it("with() passes the arguments, returns fn's results and gives the permit back", function()
    local r, during, after
    vrun(function()
      local sem = corral.semaphore(3)
      r = table.pack(sem:with(function(...)
        during = sem.value
        return ...
      end, 1, nil, 3))
      after = sem.value
    end)
    assert.same({ n = 3, 1, nil, 3 }, r)
    assert.equal(2, during)
    assert.equal(3, after)
  end)

  it("with() gives the permit back when fn raises (same error value) and when fn is cancelled", function()
    local boom = {}
    local err, values
    vrun(function()
      local sem = corral.semaphore(1)
      err = support.raises(sem.with, sem, function() corral.sleep(1); error(boom) end)
      values = { sem.value }
      corral.move_on_after(1, sem.with, sem, corral.sleep, 5)
      values[2] = sem.value
    end)
    assert.is_true(rawequal(boom, err), "expected the very table that fn raised")
    assert.same({ 1, 1 }, values)
  end)

  it("acquire() and with() raise Cancelled in a cancelled scope even with permits available, taking none", function()
    local called, value
    vrun(function()
      local sem = corral.semaphore(2)
      cancelled_in_scope(sem.acquire, sem)
      cancelled_in_scope(sem.with, sem, function() called = true end)
      value = sem.value
    end)
    assert.is_nil(called)
    assert.equal(2, value)
  end)

  it("a waiter cancelled while blocked leaves the queue: the permit goes to the next waiter", function()
    local log = support.log()
    local value_after
    vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        g:spawn(function()
          local ok = corral.move_on_after(1, sem.acquire, sem)
          log:stamp("a gave up (" .. tostring(ok) .. ")")
          corral.sleep(5)
          log:stamp("a slept in full")
        end)
        g:spawn(function()
          sem:acquire()
          log:stamp("b got it")
        end)
        corral.sleep(2)
        sem:release()
      end)
      value_after = sem.value
    end)
    assert.same({ "a gave up (false)@1", "b got it@2", "a slept in full@6" }, log.items)
    assert.equal(0, value_after)
  end)

  it("delivered wins: a waiter handed a permit in the same turn as its cancel keeps it, and its next cancellation point raises", function()
    local log = support.log()
    local value_mid, value_after
    vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        local scope
        g:spawn(function()
          corral.scope(function(s)
            scope = s
            sem:acquire()
            value_mid = sem.value
            log:stamp("acquire returned")
            local e = support.cancelled(corral.checkpoint)
            sem:release()
            error(e, 0)
          end)
          log:stamp("scope absorbed it")
        end)
        corral.sleep(1)
        sem:release()
        scope:cancel("too late")
      end)
      value_after = sem.value
    end)
    assert.same({ "acquire returned@1", "scope absorbed it@1" }, log.items)
    assert.equal(0, value_mid)
    assert.equal(1, value_after)
  end)
end)

describe("corral.channel", function()
  it("defaults to a rendezvous channel: capacity 0, open, nothing buffered", function()
    local fields
    vrun(function()
      local ch = corral.channel()
      fields = { capacity = ch.capacity, closed = ch.closed, len = #ch }
    end)
    assert.same({ capacity = 0, closed = false, len = 0 }, fields)
  end)

  it("rejects a negative capacity", function()
    support.assert_arg_error(1, "channel", nil, function() corral.channel(-1) end)
  end)

  it("takes math.huge for a capacity: an unbounded channel whose send never blocks", function()
    local got = vrun(function()
      local ch = corral.channel(math.huge)
      for i = 1, 3000 do ch:send(i) end         -- no receiver: nothing blocks
      local sum = 0
      for _ = 1, 1000 do sum = sum + ch:recv() end
      for i = 1, 1000 do ch:send(i) end         -- the ring wraps past what left
      while #ch > 0 do sum = sum + ch:recv() end
      return { ch.capacity, sum, corral.now() }
    end)
    assert.same({ math.huge, 3000 * 3001 // 2 + 1000 * 1001 // 2, 0 }, got)
  end)

  it("send(nil) raises a bad argument error and sends nothing", function()
    local len
    vrun(function()
      local ch = corral.channel(1)
      support.assert_arg_error(1, "send", "cannot send nil", function() ch:send(nil) end)
      support.assert_arg_error(1, "send", "cannot send nil", function() ch:send() end)
      len = #ch
    end)
    assert.equal(0, len)
  end)

  it("a buffered channel delivers values in the order they were sent, and #ch counts them", function()
    local got, lens = {}, {}
    vrun(function()
      local ch = corral.channel(3)
      for _, v in ipairs({ "a", false, 3 }) do
        ch:send(v)
        lens[#lens + 1] = #ch
      end
      for _ = 1, 3 do
        got[#got + 1] = ch:recv()
        lens[#lens + 1] = #ch
      end
    end)
    assert.same({ "a", false, 3 }, got)
    assert.same({ 1, 2, 3, 2, 1, 0 }, lens)
  end)

  it("a sender blocks exactly when the buffer is full and resumes as soon as a slot frees", function()
    local log = support.log()
    local len
    vrun(function()
      local ch = corral.channel(2)
      corral.group(function(g)
        g:spawn(function()
          for i = 1, 5 do
            ch:send(i)
            log:stamp("sent " .. i)
          end
        end)
        corral.sleep(1)
        len = #ch
        for _ = 1, 5 do
          log:stamp("got " .. ch:recv())
          corral.sleep(1)
        end
      end)
    end)
    assert.equal(2, len)
    assert.same({
      "sent 1@0", "sent 2@0",
      "got 1@1", "sent 3@1",
      "got 2@2", "sent 4@2",
      "got 3@3", "sent 5@3",
      "got 4@4", "got 5@5",
    }, log.items)
  end)

  it("a freed slot goes to the longest waiting sender, not to a newcomer", function()
    local got = {}
    vrun(function()
      local ch = corral.channel(1)
      corral.group(function(g)
        ch:send("a")
        g:spawn(function() ch:send("b") end)
        corral.sleep(1)
        got[1] = ch:recv()
        g:spawn(function() ch:send("c") end) -- the newcomer
        corral.sleep(1)
        for i = 2, 3 do got[i] = ch:recv() end
      end)
    end)
    assert.same({ "a", "b", "c" }, got)
  end)

  it("rendezvous: send blocks until a receiver takes the value", function()
    local log = support.log()
    vrun(function()
      local ch = corral.channel()
      corral.group(function(g)
        g:spawn(function()
          ch:send("v")
          log:stamp("send returned")
        end)
        corral.sleep(3)
        log:stamp("got " .. ch:recv())
      end)
    end)
    assert.same({ "got v@3", "send returned@3" }, log.items)
  end)

  it("rendezvous: recv blocks until a sender comes, and a send to a waiting receiver does not block", function()
    local log = support.log()
    vrun(function()
      local ch = corral.channel()
      corral.group(function(g)
        g:spawn(function() log:stamp("got " .. ch:recv()) end)
        corral.sleep(2)
        ch:send("v")
        log:stamp("send returned")
      end)
    end)
    assert.same({ "send returned@2", "got v@2" }, log.items)
  end)

  for _, cap in ipairs({ 0, 1 }) do
    it(("blocked senders are served in the order they blocked (capacity %d)"):format(cap), function()
      local got, asked = {}, {}
      vrun(function()
        local ch = corral.channel(cap)
        corral.group(function(g)
          for i = 1, 4 do g:spawn(function() asked[#asked + 1] = "s" .. i; ch:send("s" .. i) end) end
          corral.sleep(1)
          for i = 1, 4 do got[i] = ch:recv() end
        end)
      end)
      assert.same(asked, got)
    end)

    it(("blocked receivers are served in the order they blocked (capacity %d)"):format(cap), function()
      local log, asked = support.log(), {}
      vrun(function()
        local ch = corral.channel(cap)
        corral.group(function(g)
          for i = 1, 3 do
            g:spawn(function() asked[#asked + 1] = i; log:add("r" .. i .. " got " .. ch:recv()) end)
          end
          corral.sleep(1)
          for _, v in ipairs({ "a", "b", "c" }) do ch:send(v) end
        end)
      end)
      assert.same(support.sorted({ "r" .. asked[1] .. " got a", "r" .. asked[2] .. " got b", "r" .. asked[3] .. " got c" }),
        log:sorted())
    end)
  end

  describe("close", function()
    it("recv drains the buffered values, then returns nil every time", function()
      local got, fields
      vrun(function()
        local ch = corral.channel(3)
        ch:send("a")
        ch:send("b")
        ch:close()
        fields = { closed = ch.closed, len = #ch }
        got = {}
        for i = 1, 4 do
          local v = ch:recv()
          got[i] = tostring(v)
        end
      end)
      assert.same({ closed = true, len = 2 }, fields)
      assert.same({ "a", "b", "nil", "nil" }, got)
    end)

    -- `tostring(ch:recv())`, `print(ch:recv())` or `table.pack(ch:recv())` see the
    -- difference between returning nil and returning nothing.
    it("recv on a closed, drained channel returns one nil value, not an empty list", function()
      local direct, woken
      vrun(function()
        local ch = corral.channel()
        corral.group(function(g)
          g:spawn(function() woken = table.pack(ch:recv()) end)
          corral.sleep(1)
          ch:close()
        end)
        direct = table.pack(ch:recv())
      end)
      assert.same({ n = 1, nil }, woken)
      assert.same({ n = 1, nil }, direct)
    end)

    it("send on a closed channel raises, buffered or not", function()
      local errs, len = {}, nil
      vrun(function()
        for _, cap in ipairs({ 0, 2 }) do
          local ch = corral.channel(cap)
          ch:close()
          errs[#errs + 1] = support.raises(ch.send, ch, "v")
          len = #ch
        end
      end)
      for _, e in ipairs(errs) do support.assert_mentions(e, "channel:send: the channel is closed") end
      assert.equal(0, len)
    end)

    it("closing twice is harmless", function()
      local closed, got
      vrun(function()
        local ch = corral.channel(1)
        ch:send("kept")
        ch:close()
        ch:close()
        closed = ch.closed
        got = ch:recv()
      end)
      assert.is_true(closed)
      assert.equal("kept", got)
    end)

    for _, cap in ipairs({ 0, 1 }) do
      it(("wakes blocked senders with 'channel:send: the channel is closed'; their values are never delivered (capacity %d)"):format(cap), function()
        local log = support.log()
        local got
        vrun(function()
          local ch = corral.channel(cap)
          if cap > 0 then ch:send("buffered") end
          corral.group(function(g)
            for i = 1, 2 do
              g:spawn(function()
                local ok, e = pcall(ch.send, ch, "s" .. i)
                local what = ok and "sent" or tostring(e):match("channel:send: the channel is closed") or tostring(e)
                log:stamp("s" .. i .. ": " .. what)
              end)
            end
            corral.sleep(1)
            ch:close()
          end)
          got = {}
          repeat
            local v = ch:recv()
            got[#got + 1] = tostring(v)
          until v == nil
        end)
        assert.same({ "s1: channel:send: the channel is closed@1", "s2: channel:send: the channel is closed@1" }, log:sorted())
        assert.same(cap > 0 and { "buffered", "nil" } or { "nil" }, got)
      end)
    end

    it("wakes every blocked receiver with nil", function()
      local log = support.log()
      vrun(function()
        local ch = corral.channel(2)
        corral.group(function(g)
          for i = 1, 3 do
            g:spawn(function()
              local v = ch:recv()
              log:stamp("r" .. i .. " got " .. tostring(v))
            end)
          end
          corral.sleep(1)
          ch:close()
        end)
      end)
      assert.same({ "r1 got nil@1", "r2 got nil@1", "r3 got nil@1" }, log:sorted())
    end)

    for _, cap in ipairs({ 0, 2 }) do
      it(("iter() yields every value in order and ends once the channel is closed and drained (capacity %d)"):format(cap), function()
        local got, t = {}, nil
        vrun(function()
          local ch = corral.channel(cap)
          corral.group(function(g)
            g:spawn(function()
              for i = 1, 5 do ch:send(i) end
              corral.sleep(1)
              ch:close()
            end)
            for v in ch:iter() do got[#got + 1] = v end
            t = now()
          end)
        end)
        assert.same({ 1, 2, 3, 4, 5 }, got)
        assert.equal(1, t)
      end)
    end
  end)

  describe("cancellation", function()
    it("send raises Cancelled in a cancelled scope even with room in the buffer, and buffers nothing", function()
      local len
      vrun(function()
        local ch = corral.channel(2)
        cancelled_in_scope(ch.send, ch, "v")
        len = #ch
      end)
      assert.equal(0, len)
    end)

    it("send raises Cancelled in a cancelled scope even with a receiver waiting, which gets nothing from it", function()
      local log = support.log()
      vrun(function()
        local ch = corral.channel()
        corral.group(function(g)
          g:spawn(function() log:stamp("receiver got " .. ch:recv()) end)
          corral.sleep(1)
          cancelled_in_scope(ch.send, ch, "cancelled value")
          corral.sleep(1)
          ch:send("later value")
        end)
      end)
      assert.same({ "receiver got later value@2" }, log.items)
    end)

    it("recv raises Cancelled in a cancelled scope even with a value buffered, which stays buffered", function()
      local len, got
      vrun(function()
        local ch = corral.channel(1)
        ch:send("v")
        cancelled_in_scope(ch.recv, ch)
        len = #ch
        got = ch:recv()
      end)
      assert.equal(1, len)
      assert.equal("v", got)
    end)

    it("recv raises Cancelled in a cancelled scope even with a sender waiting, which stays blocked", function()
      local log = support.log()
      vrun(function()
        local ch = corral.channel()
        corral.group(function(g)
          g:spawn(function() ch:send("v"); log:stamp("send returned") end)
          corral.sleep(1)
          cancelled_in_scope(ch.recv, ch)
          corral.sleep(1)
          log:stamp("got " .. ch:recv())
        end)
      end)
      assert.same({ "got v@2", "send returned@2" }, log.items)
    end)

    it("recv and iter raise Cancelled in a cancelled scope even on a closed, drained channel", function()
      vrun(function()
        local ch = corral.channel(1)
        ch:close()
        cancelled_in_scope(ch.recv, ch)
        cancelled_in_scope(function()
          for _ in ch:iter() do end
        end)
      end)
    end)

    it("a receiver cancelled while blocked leaves the queue: the value goes to the next receiver", function()
      local log = support.log()
      vrun(function()
        local ch = corral.channel()
        corral.group(function(g)
          g:spawn(function()
            local ok = corral.move_on_after(1, ch.recv, ch)
            log:stamp("r1 gave up (" .. tostring(ok) .. ")")
            corral.sleep(5) -- a stale queue link would wake this sleep with the value at 2
            log:stamp("r1 slept in full")
          end)
          g:spawn(function() log:stamp("r2 got " .. ch:recv()) end)
          corral.sleep(2)
          ch:send("v")
        end)
      end)
      assert.same({ "r1 gave up (false)@1", "r2 got v@2", "r1 slept in full@6" }, log.items)
    end)

    for _, cap in ipairs({ 0, 1 }) do
      it(("a sender cancelled while blocked: its send raises, its value is never delivered, the receiver gets the next sender's (capacity %d)"):format(cap), function()
        local log = support.log()
        local got = {}
        vrun(function()
          local ch = corral.channel(cap)
          if cap > 0 then ch:send("buffered") end
          corral.group(function(g)
            g:spawn(function()
              local ok = corral.move_on_after(1, ch.send, ch, "lost")
              log:stamp("s1 gave up (" .. tostring(ok) .. ")")
              corral.sleep(5) -- a stale queue link would hand this task's value over at 2
              log:stamp("s1 slept in full")
            end)
            g:spawn(function() ch:send("kept"); log:stamp("s2 sent") end)
            corral.sleep(2)
            repeat
              local v = ch:recv()
              got[#got + 1] = v
            until #ch == 0
            ch:close()
            local last = ch:recv()
            got[#got + 1] = tostring(last)
          end)
        end)
        assert.same(cap > 0 and { "buffered", "kept", "nil" } or { "kept", "nil" }, got)
        assert.same({ "s1 gave up (false)@1", "s2 sent@2", "s1 slept in full@6" }, log.items)
      end)
    end

    it("delivered wins: a receiver handed a value in the same turn as its cancel returns it, and its next cancellation point raises", function()
      local log = support.log()
      local later
      vrun(function()
        local ch = corral.channel()
        corral.group(function(g)
          local scope
          g:spawn(function()
            corral.scope(function(s)
              scope = s
              log:stamp("recv returned " .. tostring(ch:recv()))
              later = support.cancelled(corral.checkpoint)
              error(later, 0)
            end)
            log:stamp("scope absorbed it")
          end)
          corral.sleep(1)
          ch:send("v")
          scope:cancel("too late")
        end)
      end)
      assert.same({ "recv returned v@1", "scope absorbed it@1" }, log.items)
      assert.equal("too late", later.reason)
    end)

    for _, cap in ipairs({ 0, 1 }) do
      it(("delivered wins: a blocked sender whose value was taken in the same turn as its cancel returns normally (capacity %d)"):format(cap), function()
        local log = support.log()
        local got = {}
        vrun(function()
          local ch = corral.channel(cap)
          if cap > 0 then ch:send("buffered") end
          corral.group(function(g)
            local scope
            g:spawn(function()
              corral.scope(function(s)
                scope = s
                ch:send("v")
                log:stamp("send returned")
                local e = support.cancelled(corral.checkpoint)
                error(e, 0)
              end)
              log:stamp("scope absorbed it")
            end)
            corral.sleep(1)
            got[1] = ch:recv()
            scope:cancel("too late")
            corral.sleep(1)
            got[2] = tostring(#ch > 0 and ch:recv() or nil)
          end)
        end)
        assert.same({ "send returned@1", "scope absorbed it@1" }, log.items)
        assert.same(cap > 0 and { "buffered", "v" } or { "v", "nil" }, got)
      end)
    end
  end)
end)

-- try_send, try_recv and try_acquire: what the blocking call would do at once,
-- or a refusal where it would block; never a wait, never a cancellation point.
describe("the non-blocking tries", function()
  -- Run fn inside a scope cancelled on entry: a try still works there.
  local function in_cancelled_scope(fn)
    corral.scope(function(s)
      s:cancel("cancelled first")
      fn()
    end)
  end

  it("try_send buffers while there is room, then answers false and leaves the buffer as it was", function()
    vrun(function()
      local ch = corral.channel(2)
      assert.is_true(ch:try_send("a"))
      assert.is_true(ch:try_send("b"))
      assert.is_false(ch:try_send("c"))
      assert.equal(2, #ch)
      assert.equal("a", ch:recv())
      assert.equal("b", ch:recv())
      assert.same({ nil, "empty" }, { ch:try_recv() })
    end)
  end)

  it("try_send hands the value to the longest waiting receiver, even on a rendezvous channel", function()
    local got = {}
    vrun(function()
      local ch = corral.channel(0)
      assert.is_false(ch:try_send("nobody waits"))
      corral.group(function(g)
        for _, name in ipairs({ "r1", "r2" }) do   -- r1 waits first
          g:spawn(function()
            local v = ch:recv()
            got[#got + 1] = name .. " " .. v
          end)
          corral.sleep(1)
        end
        assert.is_true(ch:try_send("x"))
        assert.is_true(ch:try_send("y"))
        assert.is_false(ch:try_send("z"))
      end)
    end)
    table.sort(got)                       -- (woken together: any run order)
    assert.same({ "r1 x", "r2 y" }, got)
  end)

  it("try_send does not overtake senders waiting on a full channel", function()
    local got = {}
    vrun(function()
      local ch = corral.channel(1)
      ch:send("first")
      corral.group(function(g)
        g:spawn(function() ch:send("waiting") end)
        corral.sleep(1)
        assert.is_false(ch:try_send("newcomer"))
        for _ = 1, 2 do got[#got + 1] = ch:recv() end
      end)
    end)
    assert.same({ "first", "waiting" }, got)
  end)

  it("try_recv takes the oldest value and moves a waiting sender's value into the freed slot", function()
    local sent
    vrun(function()
      local ch = corral.channel(2)
      ch:send(1)
      ch:send(2)
      corral.group(function(g)
        g:spawn(function()
          ch:send(3)
          sent = now()
        end)
        corral.sleep(1)
        assert.equal(1, ch:try_recv())
        assert.equal(2, #ch)
        assert.equal(2, ch:try_recv())
        assert.equal(3, ch:try_recv())
        assert.same({ nil, "empty" }, { ch:try_recv() })
      end)
    end)
    assert.equal(1, sent)
  end)

  it("try_recv takes straight from a waiting sender on a rendezvous channel", function()
    vrun(function()
      local ch = corral.channel()
      corral.group(function(g)
        g:spawn(function() ch:send("v") end)
        assert.same({ nil, "empty" }, { ch:try_recv() })
        corral.sleep(1)
        assert.equal("v", ch:try_recv())
      end)
    end)
  end)

  it("after close: try_recv drains, then answers nil, 'closed'; try_send raises", function()
    vrun(function()
      local ch = corral.channel(2)
      ch:send("left")
      ch:close()
      assert.equal("left", ch:try_recv())
      assert.same({ nil, "closed" }, { ch:try_recv() })
      local ok, err = pcall(ch.try_send, ch, 1)
      assert.is_false(ok)
      assert.matches("channel:try_send: the channel is closed", err, 1, true)
    end)
  end)

  it("try_send refuses nil and a wrong self with the usual errors", function()
    vrun(function()
      local ch = corral.channel(1)
      assert.error_matches(function() ch:try_send(nil) end, "cannot send nil", 1, true)
      assert.error_matches(function() ch.try_send({}, 1) end,
        "corral.Channel expected, got table", 1, true)
      assert.error_matches(function() ch.try_recv(1) end,
        "corral.Channel expected, got number", 1, true)
    end)
  end)

  it("the tries are not cancellation points: they work in a cancelled scope", function()
    vrun(function()
      local ch, l, s = corral.channel(1), corral.lock(), corral.semaphore(1)
      in_cancelled_scope(function()
        assert.is_true(ch:try_send("v"))
        assert.equal("v", ch:try_recv())
        assert.is_true(l:try_acquire())
        l:release()
        assert.is_true(s:try_acquire())
        s:release()
      end)
    end)
  end)

  it("try_acquire takes a free lock or permit, answers false while none is free, and never overtakes a waiter", function()
    local order = {}
    vrun(function()
      local l = corral.lock()
      assert.is_true(l:try_acquire())
      corral.group(function(g)
        g:spawn(function()
          assert.is_false(l:try_acquire())
          l:acquire()
          order[#order + 1] = "waiter"
          l:release()
        end)
        corral.sleep(1)
        l:release()               -- handed to the waiter
        assert.is_false(l:try_acquire())
        order[#order + 1] = "try refused"
      end)
      assert.is_true(l:try_acquire())
      l:release()
      local s = corral.semaphore(2)
      assert.is_true(s:try_acquire())
      assert.is_true(s:try_acquire())
      assert.is_false(s:try_acquire())
      assert.equal(0, s.value)
      s:release()
      assert.equal(1, s.value)
    end)
    assert.same({ "try refused", "waiter" }, order)
  end)

  it("lock:try_acquire by the holder raises as acquire does; outside a task it raises", function()
    vrun(function()
      local l = corral.lock()
      assert.is_true(l:try_acquire())
      assert.error_matches(function() l:try_acquire() end,
        "lock:try_acquire: the task already holds this lock (a lock is not re-entrant)", 1, true)
      l:release()
    end)
    local l = corral.lock()
    assert.error_matches(function() l:try_acquire() end,
      "lock:try_acquire: called outside a corral task", 1, true)
  end)

  it("a lock taken with try_acquire is released by its <close> and counts as the task's", function()
    vrun(function()
      local l = corral.lock()
      do
        assert.is_true(l:try_acquire())
        local _ <close> = l
        corral.group(function(g)
          g:spawn(function()
            assert.error_matches(function() l:release() end, "held by another task", 1, true)
          end)
        end)
      end
      assert.is_true(l:try_acquire())
      l:release()
    end)
  end)

  it("a lock in a <close> variable of a generator the holder runs is released when that block ends", function()
    vrun(function()
      local l, order = corral.lock(), {}
      l:acquire()
      local step = coroutine.wrap(function()
        local _ <close> = l                       -- ends normally below
        return "done"
      end)
      assert.equal("done", step())
      assert.is_false(l.locked)
      -- by coroutine.close of a suspended generator, after try_acquire inside it
      local co = coroutine.create(function()
        assert.is_true(l:try_acquire())
        local _ <close> = l
        coroutine.yield()
      end)
      assert.is_true(coroutine.resume(co))
      assert.is_true(l.locked)
      assert.is_true(coroutine.close(co))
      assert.is_false(l.locked)
      corral.group(function(g)
        g:spawn(function() l:with(function() order[#order + 1] = "next task" end) end)
      end)
      assert.same({ "next task" }, order)
    end)
  end)

  it("a generator's <close> leaves alone a lock another task holds", function()
    vrun(function()
      local l = corral.lock()
      corral.group(function(g)
        g:spawn(function() l:acquire(); corral.sleep(1); l:release() end)
        while not l.locked do corral.checkpoint() end
        local step = coroutine.wrap(function() local _ <close> = l end)
        step()
        assert.is_true(l.locked)               -- still the other task's
      end)
      assert.is_false(l.locked)
    end)
  end)

  it("channels and semaphores answer tries outside any run, and keep what they got", function()
    local ch, s = corral.channel(1), corral.semaphore(1)
    assert.is_true(ch:try_send("kept"))
    assert.is_false(ch:try_send("no room"))
    assert.is_true(s:try_acquire())
    assert.is_false(s:try_acquire())
    vrun(function()
      assert.equal("kept", ch:recv())
      s:release()
      s:acquire()
    end)
  end)

  it("ch:iter() returns a function that can be called directly, not only by a for", function()
    vrun(function()
      local ch = corral.channel(2)
      ch:send("a")
      ch:send("b")
      ch:close()
      local next_value = ch:iter()
      assert.equal("a", next_value())
      assert.equal("b", next_value("ignored", "arguments"))
      assert.is_nil(next_value())
    end)
  end)
end)

-- The waiting counts (Trio's statistics(): tasks_waiting, tasks_waiting_send, ...).
describe("the waiting counts", function()
  it("count the tasks parked on an event, a lock, a semaphore and a channel's two ends", function()
    local seen = {}
    vrun(function()
      local e, l, s = corral.event(), corral.lock(), corral.semaphore(0)
      local out, inn = corral.channel(0), corral.channel(1)
      local function counts()
        return { e.waiting, l.waiting, s.waiting, out.senders_waiting,
                 out.receivers_waiting, inn.senders_waiting, inn.receivers_waiting }
      end
      seen[1] = counts()
      l:acquire()
      corral.group(function(g)
        for _ = 1, 3 do g:spawn(function() e:wait() end) end
        for _ = 1, 2 do g:spawn(function() l:with(function() end) end) end
        g:spawn(function() s:acquire() end)
        for i = 1, 2 do g:spawn(function() out:send(i) end) end
        g:spawn(function() inn:recv() end)
        corral.sleep(1)
        seen[2] = counts()
        -- a cancelled waiter is no longer counted
        corral.move_on_after(1, function() e:wait() end)
        seen[3] = counts()
        e:set()
        l:release()
        s:release()
        out:recv()
        out:recv()
        inn:send("x")
        corral.sleep(1)
        seen[4] = counts()
      end)
    end)
    assert.same({ 0, 0, 0, 0, 0, 0, 0 }, seen[1])
    assert.same({ 3, 2, 1, 2, 0, 0, 1 }, seen[2])
    assert.same({ 3, 2, 1, 2, 0, 0, 1 }, seen[3])
    assert.same({ 0, 0, 0, 0, 0, 0, 0 }, seen[4])
  end)

  it("are read-only fields", function()
    local ch = corral.channel()
    assert.error_matches(function() ch.senders_waiting = 1 end, "read-only", 1, true)
    assert.error_matches(function() corral.event().waiting = 1 end, "read-only", 1, true)
  end)

  it("say they are read-only for a key whose __tostring raises, not the key's error", function()
    local key = setmetatable({}, { __tostring = function() error("key's own error") end })
    vrun(function()
      corral.group(function(g)
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        for _, o in ipairs({ corral.channel(), corral.event(), corral.current_task(), l }) do
          local ok, err = pcall(function() o[key] = 1 end)
          assert.is_false(ok)
          assert.matches("cannot set field '(a table value whose __tostring failed)' (", err, 1, true)
        end
        g:cancel()
      end)
    end)
  end)

  it("a key that is not a string finds nil on every corral object, as in a table", function()
    vrun(function()
      corral.group(function(g)
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        local objs = { corral.channel(1), corral.lock(), corral.semaphore(1), corral.event(),
                       corral.current_task(), g, l }
        corral.scope(function(sc) objs[#objs + 1] = sc end)
        for i, o in ipairs(objs) do
          for _, k in ipairs({ {}, true, 1, 1.5 }) do
            local ok, v = pcall(function() return o[k] end)
            assert(ok and v == nil, ("object %d, key %s: %s"):format(i, tostring(k), tostring(v)))
          end
        end
      end)
    end)
  end)
end)
