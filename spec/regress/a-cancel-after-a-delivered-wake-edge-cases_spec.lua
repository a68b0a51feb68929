-- Edge cases of "a t:cancel that comes after a task's wake-up was delivered is
-- too late for that wait" not covered by the regressions named after it: the
-- other kinds of wake-up, a second cancel in the window, the waits that are no
-- cancellation point (a group's join of its children), and a cancel that raised
-- and was caught.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun, blocked = support.vrun, testing.wait_all_tasks_blocked

-- Spawn op(res) as a task that returns its results, hand it its wake-up with
-- deliver(res), cancel it (twice: the second is as late), and return what its
-- wait gives and its status.
local function cancelled_after(make, op, deliver)
  local out
  vrun(function()
    local res = make()
    corral.group(function(g)
      res.g = g
      local t = g:spawn(op, res)
      blocked()
      deliver(res)
      t:cancel("late")
      t:cancel("later")
      out = table.pack(t:wait())
      out.status = t.status
    end)
  end)
  return out
end

describe("a t:cancel after a delivered wake-up", function()
  local cases = {
    event = { function() return { e = corral.event() } end,
      function(r) r.e:wait(); return "set" end, function(r) r.e:set() end },
    semaphore = { function() return { s = corral.semaphore(0) } end,
      function(r) r.s:acquire(); return "permit" end, function(r) r.s:release() end },
    ["rendezvous recv"] = { function() return { q = corral.channel() } end,
      function(r) return r.q:recv() end, function(r) r.q:send("item") end },
    ["rendezvous send"] = { function() return { q = corral.channel() } end,
      function(r) r.q:send("item"); return "sent" end,
      function(r) assert.equal("item", r.q:recv()) end },
    ["g:start"] = { function() return { e = corral.event() } end,
      function(r) return r.g:start(function(ready) r.e:wait(); ready("started") end) end,
      function(r) r.e:set(); blocked() end },
  }
  for name, c in pairs(cases) do
    it("keeps what a " .. name .. " handed over", function()
      local out = cancelled_after(c[1], c[2], c[3])
      assert.is_true(out[1])
      assert.is_not_nil(out[2])
      assert.equal("done", out.status)
    end)
  end

  it("is not owed again at a group's join of its children", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function()
          return corral.group(function(g2)
            g2:spawn(function() corral.scope(function() q:recv() end, { shield = true }) end)
            return q:recv()
          end)
        end)
        blocked()
        q:send(1)        -- to t's body, which waited first
        q:send(2)        -- to its child, whose shield lets it finish
        t:cancel()
        assert.same({ true, 1 }, { t:wait() })
        assert.equal("done", t.status)
      end)
    end)
  end)

  it("raised at the next cancellation point and caught there leaves the task done", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function()
          local v = q:recv()
          local ok, c = pcall(corral.checkpoint)
          assert.is_false(ok)
          assert.equal("late", c.reason)
          return v
        end)
        blocked()
        q:send(1)
        t:cancel("late")
        assert.same({ true, 1 }, { t:wait() })
        assert.equal("done", t.status)
      end)
    end)
  end)
end)
