-- A Cancelled on its way out passes a shield set since the cancel only when
-- corral delivered it (its task was found cancelled, or a child passed it out
-- to the group). A group's body that raised a Cancelled another task handed it
-- counted as "a child passed one out": at the group's exit the catch walked
-- past the enclosing shield to a cancelled scope outside it, and the body's
-- Cancelled came out carrying that outer scope's reason. Found by the model
-- fuzzer (tools/fuzz.lua, FUZZ_LARGE=1, seed 7310443).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: a group body raising a handed Cancelled inside a shield", function()
  it("keeps its own Cancelled at the group's exit: no cancel outside the shield is visible", function()
    local caught
    vrun(function()
      corral.group(function(g1)
        corral.group(function(g2)
          local kept
          g2:spawn(function()
            local _, e = pcall(corral.checkpoint)   -- g2's Cancelled ("mine")
            kept = e
            g1:cancel("outer")                       -- outside the shield below
          end)
          g2:cancel("mine")
          corral.scope(function()
            local ok, e = pcall(corral.group, function()
              corral.sleep(1)                        -- shielded: no cancel here
              error(kept)
            end)
            assert.is_false(ok)
            caught = e
          end, { shield = true })
        end)
      end)
    end)
    assert.is_true(corral.is_cancelled(caught))
    assert.equal("mine", caught.reason)
  end)

  it("a child found cancelled still passes a shield set on its group since (the rule it narrows)", function()
    local status
    local err = support.raises(vrun, function()
      corral.group(function(g)
        local t = g:spawn(function()
          local ok, e = pcall(corral.sleep, math.huge)
          g.shield = true                              -- after the cancel reached it
          error(e, 0)
        end)
        corral.checkpoint()
        corral.current_task():cancel("from above")
        corral.scope(function() corral.sleep(1) end, { shield = true })
        status = t.status
      end)
    end)
    assert.is_true(corral.is_cancelled(err))
    assert.equal("from above", err.reason)
    assert.equal("cancelled", status)
  end)
end)

-- The same rule for g:start: the Cancelled a starting child passes out is
-- raised in its caller as one corral delivered to it. The caller was marked
-- so only when it had been cancelled before it started waiting (its wait
-- refuses aborts): cancelled while it waited, a shield set on its group
-- during its cleanup turned its cancel into a failure ("a Cancelled reached
-- the end of a task that no cancelled scope encloses"). Found by the model
-- fuzzer (FUZZ_LARGE=1, seed 12099192, the first timing).
describe("regression: a g:start caller re-raising its child's Cancelled behind a shield", function()
  for _, when in ipairs({ "before", "while" }) do
    it("ends cancelled, not failed, cancelled " .. when .. " it waits", function()
      local status
      local err = support.raises(vrun, function()
        corral.group(function(g)
          local root = corral.current_task()
          if when == "before" then root:cancel("stop") end
          local t = g:spawn(function()
            local ok, e = pcall(g.start, g, function() corral.sleep(1) end)
            g.shield = true                        -- during its cleanup
            corral.sleep(0.5)
            error(e, 0)
          end)
          if when == "while" then corral.sleep(0.1); root:cancel("stop") end
          corral.scope(function() corral.sleep(2) end, { shield = true })
          status = t.status
        end)
      end)
      assert.is_true(corral.is_cancelled(err))
      assert.equal("stop", err.reason)
      assert.equal("cancelled", status)
    end)
  end
end)
