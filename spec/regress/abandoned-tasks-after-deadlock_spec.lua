-- A run that ends in a deadlock nothing can unwind (tasks blocked inside
-- shielded scopes) abandons its tasks. They used to stay linked in the wait
-- queues of events, locks and channels that outlive the run, so touching
-- those objects afterwards wrote to freed memory (ASan: heap-use-after-free).
local corral = require "corral"

-- Run fn until it deadlocks for good; return what it left behind.
local function abandon(fn)
  local kept = {}
  local ok, err = pcall(corral.run, function() fn(kept) end, { clock = "virtual" })
  assert.is_false(ok)
  assert.truthy(tostring(err):find("deadlock") or tostring(err):find("leaked"))
  collectgarbage()
  collectgarbage()
  return kept
end

local function shielded(fn)
  return function(...)
    local args = table.pack(...)
    corral.scope(function() fn(table.unpack(args, 1, args.n)) end, { shield = true })
  end
end

describe("regression: tasks abandoned by a deadlock", function()
  it("leave the wait queue of an event that is set after the run", function()
    local kept = abandon(function(k)
      k.ev = corral.event()
      corral.group(function(g)
        for _ = 1, 3 do g:spawn(shielded(function() k.ev:wait() end)) end
      end)
    end)
    kept.ev:set()
    assert.is_true(kept.ev:is_set())
  end)

  it("leave a lock's and a semaphore's queue, released after the run", function()
    local kept = abandon(function(k)
      k.lock, k.sem = corral.lock(), corral.semaphore(1)
      k.lock:acquire()
      k.sem:acquire()
      corral.group(function(g)
        g:spawn(shielded(function() k.lock:acquire() end))
        g:spawn(shielded(function() k.sem:acquire() end))
      end)
    end)
    -- Released outside any run: nobody is waiting any more.
    pcall(kept.lock.release, kept.lock)
    pcall(kept.sem.release, kept.sem)
  end)

  it("leave a channel's senders and receivers, closed after the run", function()
    local kept = abandon(function(k)
      k.full, k.empty = corral.channel(0), corral.channel(0)
      corral.group(function(g)
        g:spawn(shielded(function() k.full:send(1) end))
        g:spawn(shielded(function() k.empty:recv() end))
      end)
    end)
    kept.full:close()
    kept.empty:close()
  end)

  it("cannot be resumed after the run through a coroutine taken with coroutine.running()", function()
    local rawresume = coroutine.resume
    local kept = abandon(function(k)
      k.ev = corral.event()
      corral.group(function(g)
        g:spawn(shielded(function()
          k.co = coroutine.running()
          k.ev:wait()
          k.ran_on = true
        end))
      end)
    end)
    local ok, err = pcall(rawresume, kept.co)
    assert.is_false(ok)
    assert.matches("belongs to a corral task", err)
    assert.is_nil(kept.ran_on)
  end)

  it("say 'cancelled' and refuse t:wait after the run", function()
    local kept = abandon(function(k)
      corral.group(function(g)
        k.t = g:spawn(shielded(function() corral.event():wait() end))
      end)
    end)
    assert.equal("cancelled", kept.t.status)
  end)

  -- tostring(g) counted the abandoned child ("1 child, closed") where
  -- g:tasks() had none.
  it("are no longer counted by their group's tostring, as by g:tasks()", function()
    local kept = abandon(function(k)
      corral.group(function(g)
        k.g = g
        g:spawn(shielded(function() corral.event():wait() end))
      end, { name = "crew" })
    end)
    assert.equal(0, #kept.g:tasks())
    assert.equal("corral.Group(crew, 0 children, closed)", tostring(kept.g))
  end)
end)
