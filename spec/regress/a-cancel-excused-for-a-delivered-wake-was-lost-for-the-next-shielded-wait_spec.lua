-- A t:cancel that came after a task's wake-up was delivered, before it ran, is
-- too late for that wait (the call returns what it was handed). But the engine
-- forgot the cancel altogether when the task ran: a task that then waited again
-- under a shield, where the cancel stays hidden, and returned ended "done", while
-- the same cancel arriving a moment later (while the task ran, or while it waited
-- in the shield) ended it "cancelled". The cancel is excused only for the wait
-- that was over: the task's next wait or yield owes it again.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun, blocked = support.vrun, testing.wait_all_tasks_blocked

local function shielded_reader(q, gate)
  return function()
    return corral.scope(function()
      local a = q:recv()
      if gate then gate:wait() end
      return a, q:recv()           -- a second wait, the cancel hidden
    end, { shield = true })
  end
end

describe("regression: a cancel excused for a delivered wake-up", function()
  it("is owed again at the task's next wait under a shield", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(shielded_reader(q))
        blocked()
        q:send(1)
        t:cancel("late")     -- after the 1 was handed over, before t ran
        blocked()
        q:send(2)
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.equal("late", c.reason)
        assert.equal("cancelled", t.status)
      end)
      assert.equal(0, #q)
    end)
  end)

  it("as it is when the cancel comes while the task runs", function()
    vrun(function()
      local q, gate = corral.channel(math.huge), corral.event()
      corral.group(function(g)
        local t = g:spawn(shielded_reader(q, gate))
        blocked()
        q:send(1)
        blocked()            -- t took the 1 and waits on the gate
        t:cancel("late")
        gate:set()
        blocked()
        q:send(2)
        assert.is_false((t:wait()))
        assert.equal("cancelled", t.status)
      end)
    end)
  end)

  it("and at a checkpoint under a shield", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function()
          return corral.scope(function()
            local v = q:recv()
            corral.checkpoint()
            return v
          end, { shield = true })
        end)
        blocked()
        q:send(1)
        t:cancel()
        assert.is_false((t:wait()))
        assert.equal("cancelled", t.status)
      end)
    end)
  end)

  it("but not once a Cancelled it raised was caught at the task's level", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function()
          local v = q:recv()
          local ok, c = pcall(corral.checkpoint)   -- the cancel raises here
          assert(not ok and corral.is_cancelled(c))
          corral.scope(function() q:recv() end, { shield = true })
          return v
        end)
        blocked()
        q:send(1)
        t:cancel()
        blocked()
        q:send(2)
        assert.same({ true, 1 }, { t:wait() })
        assert.equal("done", t.status)
      end)
    end)
  end)
end)
