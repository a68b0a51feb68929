-- A cancel that reaches a blocked task takes it out of its wait list at once
-- (its link goes to the run queue). Cancellation is a level read when the task
-- runs, so when a shield set before then hides the cancel (`cancel()` then
-- `shield = true` in the same turn, or a deadline and a task woken in the same
-- instant that sets the shield), the task never sees a Cancelled and waits
-- again -- but it went to the back of the queue: a newcomer got the lock, the
-- permit or the value it had waited longest for, against the API's "a newcomer
-- never jumps the queue". The engine now keeps such a waiter's arrival ticket,
-- and the same wait made again takes back the place it had.
local corral = require "corral"
local support = require "support"

-- Spawn, one virtual second apart, a waiter per name in `names`: each runs
-- wait() in two nested scopes (an outer one a cancel reaches, an inner one to
-- shield) and logs its name when the wait returns. Returns the scopes by name.
local function waiters(g, names, wait, log)
  local scopes = {}
  for _, name in ipairs(names) do
    g:spawn(function()
      corral.scope(function(outer)
        corral.scope(function(inner)
          scopes[name] = { outer = outer, inner = inner }
          wait()
          log[#log + 1] = name
        end)
      end)
    end)
    corral.sleep(1)
  end
  return scopes
end

-- Cancel `name`'s outer scope, then hide the cancel at once.
local function cancel_hidden(scopes, name)
  scopes[name].outer:cancel()
  scopes[name].inner.shield = true
end

describe("regression: a waiter whose cancel a shield hid", function()
  it("keeps its place for a lock", function()
    local log = {}
    support.vrun(function()
      local lock = corral.lock()
      corral.group(function(g)
        g:spawn(function() lock:acquire(); corral.sleep(10); lock:release() end)
        corral.checkpoint()
        local s = waiters(g, { "A", "B" }, function()
          lock:acquire(); corral.sleep(1); lock:release()
        end, log)
        cancel_hidden(s, "A")
      end)
    end)
    assert.same({ "A", "B" }, log)
  end)

  it("keeps its place among three semaphore waiters", function()
    local log = {}
    support.vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        local s = waiters(g, { "A", "B", "C" }, function() sem:acquire() end, log)
        cancel_hidden(s, "A")
        corral.sleep(1)
        for _ = 1, 3 do sem:release(); corral.sleep(1) end
      end)
    end)
    assert.same({ "A", "B", "C" }, log)
  end)

  it("keeps every place when the cancel reaches all the waiters, whatever order they run in", function()
    for seed = 1, 8 do           -- a seed shuffles the tasks the cancel woke
      local log = {}
      support.vrun(function()
        local sem = corral.semaphore(0)
        corral.scope(function(all)
          corral.group(function(g)
            waiters(g, { "A", "B", "C" }, function() sem:acquire() end, log)
            all:cancel(); g.shield = true
            corral.sleep(1)
            for _ = 1, 3 do sem:release(); corral.sleep(1) end
          end)
        end)
      end, { seed = seed })
      assert.same({ "A", "B", "C" }, log, "seed " .. seed)
    end
  end)

  it("keeps its place ahead of a newcomer that came before it ran again", function()
    local log = {}
    support.vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        local s = waiters(g, { "A" }, function() sem:acquire() end, log)
        -- B runs, and waits, before A runs again
        g:spawn(function() sem:acquire(); log[#log + 1] = "B" end)
        cancel_hidden(s, "A")
        corral.sleep(1)
        sem:release(); corral.sleep(1); sem:release()
      end)
    end)
    assert.same({ "A", "B" }, log)
  end)

  -- (#fifo: under a seed, deadlines due at one instant fire in any order)
  it("keeps its place when a deadline and the shield come in the same instant #fifo", function()
    local log = {}
    support.vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        local inner
        -- armed before the deadline: woken first in that instant
        g:spawn(function() corral.sleep(2); inner.shield = true end)
        corral.checkpoint()
        g:spawn(function()
          corral.scope(function()
            corral.scope(function(i)
              inner = i
              sem:acquire()
              log[#log + 1] = "A"
            end)
          end, { deadline = 2 })
        end)
        corral.sleep(1)
        g:spawn(function() sem:acquire(); log[#log + 1] = "B" end)
        corral.sleep(2)
        sem:release(); corral.sleep(1); sem:release()
      end)
    end)
    assert.same({ "A", "B" }, log)
  end)

  it("keeps its place for a rendezvous channel's receivers and senders", function()
    local log = {}
    support.vrun(function()
      local rx, tx = corral.channel(0), corral.channel(0)
      corral.group(function(g)
        local r = waiters(g, { "rA", "rB" }, function() rx:recv() end, log)
        local s = waiters(g, { "sA", "sB" }, function() tx:send(true) end, log)
        cancel_hidden(r, "rA")
        cancel_hidden(s, "sA")
        corral.sleep(1)
        -- one hand-off a second: each woken task runs alone, under any seed
        for _ = 1, 2 do rx:send(true); corral.sleep(1) end
        for _ = 1, 2 do tx:recv(); corral.sleep(1) end
      end)
    end)
    assert.same({ "rA", "rB", "sA", "sB" }, log)
  end)

  it("keeps its place for a buffered channel, full or empty", function()
    local got, log = {}, {}
    support.vrun(function()
      local full, empty = corral.channel(1), corral.channel(1)
      full:send("first")
      corral.group(function(g)
        local s = waiters(g, { "A", "B" }, function() full:send("from " .. #log) end, log)
        local r = waiters(g, { "rA", "rB" }, function()
          local v = empty:recv()
          got[#got + 1] = v
        end, log)
        cancel_hidden(s, "A")
        cancel_hidden(r, "rA")
        corral.sleep(1)
        full:recv(); corral.sleep(1)
        empty:send("x"); corral.sleep(1); empty:send("y"); corral.sleep(1)
        for _ = 1, 2 do full:recv(); corral.sleep(1) end
      end)
    end)
    assert.same({ "A", "rA", "rB", "B" }, log)
    assert.same({ "x", "y" }, got)
  end)

  -- (#fifo: what it checks is the order the woken tasks run in)
  it("wakes first from an event it waited on first #fifo", function()
    local log = {}
    support.vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        local s = waiters(g, { "A", "B" }, function() ev:wait() end, log)
        cancel_hidden(s, "A")
        corral.sleep(1)
        ev:set()
      end)
    end)
    assert.same({ "A", "B" }, log)
  end)

  it("goes to the back when it saw its Cancelled and waits again", function()
    local log = {}
    support.vrun(function()
      local sem = corral.semaphore(0)
      local inner
      corral.group(function(g)
        g:spawn(function()
          corral.scope(function(s) inner = s; sem:acquire() end)   -- caught here
          sem:acquire()
          log[#log + 1] = "A"
        end)
        corral.sleep(1)
        g:spawn(function() sem:acquire(); log[#log + 1] = "B" end)
        corral.sleep(1)
        inner:cancel()
        corral.sleep(1)
        sem:release(); corral.sleep(1); sem:release()
      end)
    end)
    assert.same({ "B", "A" }, log)
  end)

  it("goes to the back when its wait made again got through at once first", function()
    local log = {}
    support.vrun(function()
      local lock = corral.lock()
      lock:acquire()
      corral.group(function(g)
        local s = waiters(g, { "A" }, function()
          lock:acquire(); lock:release()    -- free when A runs again: no wait
          corral.sleep(2)                   -- t = 1 to 3
          lock:acquire(); lock:release()    -- now behind B
        end, log)
        cancel_hidden(s, "A"); lock:release()          -- t = 1
        corral.sleep(0.5)
        g:spawn(function()                  -- holds the lock from 1.5 to 6.5
          lock:acquire(); log[#log + 1] = "H"; corral.sleep(5); lock:release()
        end)
        corral.sleep(0.5)
        g:spawn(function() lock:acquire(); log[#log + 1] = "B"; lock:release() end)
      end)
    end)
    assert.same({ "H", "B", "A" }, log)
  end)
end)
