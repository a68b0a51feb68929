-- tostring of corral's objects tells their state, as a group's and a
-- task's do, so that print(x) while debugging shows more than an address.
local corral = require "corral"
local testing = require "corral.testing"

local function vrun(fn) return corral.run(fn, { clock = "virtual" }) end

describe("tostring", function()
  it("a scope: its name or #id, then cancelled, shielded, exited", function()
    vrun(function()
      local kept
      corral.scope(function(s)
        assert.equal("corral.Scope(x)", tostring(s))
        s.shield = true
        assert.equal("corral.Scope(x, shielded)", tostring(s))
        s:cancel()
        assert.equal("corral.Scope(x, cancelled, shielded)", tostring(s))
      end, { name = "x" })
      corral.scope(function(s)
        kept = s
        assert.matches("^corral%.Scope%(#%d+%)$", tostring(s))
      end)
      assert.matches("^corral%.Scope%(#%d+, exited%)$", tostring(kept))
    end)
  end)

  it("a scope whose deadline fired reads cancelled", function()
    vrun(function()
      local kept
      corral.scope(function(s) kept = s; corral.sleep(2) end, { timeout = 1 })
      assert.matches("^corral%.Scope%(#%d+, cancelled, exited%)$", tostring(kept))
    end)
  end)

  it("printing a scope never fires its deadline (reading cancel_called does)", function()
    corral.run(function()                 -- real clock: it passes while we compute
      corral.scope(function(s)
        while corral.now() <= s.deadline do end      -- no cancellation point
        assert.equal("corral.Scope(x)", tostring(s))
        assert.is_true(s.cancel_called)
        assert.equal("corral.Scope(x, cancelled)", tostring(s))
      end, { name = "x", timeout = 0.001 })
    end)
  end)

  it("an event: set or not, and its waiters", function()
    local e = corral.event()
    assert.equal("corral.Event(not set)", tostring(e))
    vrun(function()
      corral.group(function(g)
        g:spawn(function() e:wait() end)
        g:spawn(function() e:wait() end)
        testing.wait_all_tasks_blocked()
        assert.equal("corral.Event(not set, 2 waiting)", tostring(e))
        e:set()
      end)
    end)
    assert.equal("corral.Event(set)", tostring(e))
  end)

  it("a lock: free, held by whom, waiting, broken", function()
    local l = corral.lock()
    assert.equal("corral.Lock(free)", tostring(l))
    vrun(function()
      corral.group(function(g)
        l:acquire()
        local me = corral.current_task().id
        g:spawn(function() l:with(function() end) end)
        testing.wait_all_tasks_blocked()
        assert.equal(("corral.Lock(held by #%d, 1 waiting)"):format(me), tostring(l))
        l:release()
      end)
      assert.equal("corral.Lock(free)", tostring(l))
      corral.group(function(g)
        g:spawn(function() l:acquire() end)      -- ends holding it
      end)
      assert.equal("corral.Lock(broken)", tostring(l))
    end)
    l:release()                                   -- mended outside a run
    assert.equal("corral.Lock(free)", tostring(l))
  end)

  it("a semaphore: its permits and waiters", function()
    local s = corral.semaphore(2)
    assert.equal("corral.Semaphore(2 permits)", tostring(s))
    vrun(function()
      corral.group(function(g)
        s:acquire()
        assert.equal("corral.Semaphore(1 permit)", tostring(s))
        s:acquire()
        g:spawn(function() s:with(function() end) end)
        testing.wait_all_tasks_blocked()
        assert.equal("corral.Semaphore(0 permits, 1 waiting)", tostring(s))
        s:release(); s:release()
      end)
    end)
    assert.equal("corral.Semaphore(2 permits)", tostring(s))
  end)

  it("a channel: buffered / capacity, unbounded, closed", function()
    assert.equal("corral.Channel(0/0)", tostring(corral.channel()))
    assert.equal("corral.Channel(0/unbounded)", tostring(corral.channel(math.huge)))
    local ch = corral.channel(10)
    vrun(function()
      ch:send(1); ch:send(2)
      assert.equal("corral.Channel(2/10)", tostring(ch))
      ch:close()
    end)
    assert.equal("corral.Channel(2/10, closed)", tostring(ch))
  end)
end)
