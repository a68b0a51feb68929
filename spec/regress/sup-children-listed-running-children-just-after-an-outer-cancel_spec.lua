-- sup:children() went on listing children as "running" between an outer cancel
-- of the supervisor and its own task's next turn, although docs/policies.md says
-- that once the supervisor is cancelled from outside its children are being
-- cancelled and none is listed. A body that cancelled its enclosing scope (or a
-- task that watched the supervisor) and then asked, with no cancellation point in
-- between, was told the children ran on. It now asks whether the supervisor's
-- task would raise a Cancelled, and lists none when it would.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function child(name)
  return { name = name, fn = function() corral.sleep(10) end }
end

describe("regression: sup:children() just after an outer cancel", function()
  it("lists none once the body cancelled the scope around supervisor.run", function()
    local before, after, later
    support.vrun(function()
      corral.scope(function(s)
        supervisor.run({ children = { child("a"), child("b") } }, function(sup)
          before = sup:children()
          s:cancel("outer")
          after = sup:children()                  -- no cancellation point yet
          pcall(corral.sleep, 1)
          later = sup:children()
        end)
      end)
    end)
    assert.same({ { name = "a", status = "running", restarts = 0 },
                  { name = "b", status = "running", restarts = 0 } }, before)
    assert.same({}, after)
    assert.same({}, later)
  end)

  it("lists none to another task asking before the supervisor's task has run", function()
    local seen
    support.vrun(function()
      corral.group(function(g)
        local sup_ready = corral.event()
        local kept
        local t = g:spawn(function()
          supervisor.run({ children = { child("a") } }, function(sup)
            kept = sup
            sup_ready:set()
            corral.sleep(math.huge)
          end)
        end)
        sup_ready:wait()
        assert.equal(1, #kept:children())
        t:cancel("from outside")
        seen = kept:children()                    -- the manager has not turned
      end)
    end)
    assert.same({}, seen)
  end)

  it("still lists the children under a deadline that has not passed", function()
    local seen
    support.vrun(function()
      corral.move_on_after(5, supervisor.run, { children = { child("a") } }, function(sup)
        corral.sleep(4)
        seen = sup:children()
      end)
    end)
    assert.same({ { name = "a", status = "running", restarts = 0 } }, seen)
  end)
end)
