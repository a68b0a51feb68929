-- The Cancelled a starting child passes out is raised next in its g:start
-- caller as one corral delivered to it, so it passes a shield set since the
-- cancel (docs/model.md). Since a cancel can end the caller's wait while its
-- child still waits for a slot of the group's limit, the child may get its
-- slot, run and end before the caller runs again (a seeded schedule runs them
-- in either order). Only a caller still parked in g:start was marked: one the
-- cancel had woken raised the child's Cancelled as one it was merely handed,
-- and behind a shield set on its group meanwhile that was a failure ("a
-- Cancelled reached the end of a task that no cancelled scope encloses")
-- instead of a cancellation the scope outside absorbs. Found by the engine's
-- libFuzzer harness (spec/fuzz/fuzz-engine.c).
local corral = require "corral"
local support = require "support"

describe("regression: a g:start caller a cancel woke, its child's Cancelled behind a shield", function()
  it("ends cancelled, and the cancelled scope outside absorbs it, in every order", function()
    local woken_first = 0
    for seed = 1, 40 do
      local log, starter = {}, nil
      support.vrun(function()
        corral.group(function(lim)
          lim:spawn(function() corral.sleep(1) end)         -- the slot until 1 s
          corral.scope(function(s)
            corral.group(function(g)
              starter = g:spawn(function()
                local ok, e = pcall(lim.start, lim, function()
                  local _, c = pcall(corral.sleep, 1)        -- s's Cancelled
                  -- the caller not run since the cancel woke it
                  if starter.status == "scheduled" then woken_first = woken_first + 1 end
                  g.shield = true                           -- during its cleanup
                  error(c, 0)
                end)
                assert.is_false(ok)
                assert.is_true(corral.is_cancelled(e))
                log[#log + 1] = "raised " .. e.reason
                error(e, 0)
              end)
              g:spawn(function()
                corral.sleep(1)                             -- with the slot's end
                s:cancel("stop")
              end)
            end)
            log[#log + 1] = "not reached"
          end)
          log[#log + 1] = "after s"
        end, { limit = 1 })
      end, { seed = seed })
      assert.same({ "raised stop", "after s" }, log, "seed " .. seed)
      assert.equal("cancelled", starter.status, "seed " .. seed)
    end
    assert.is_true(woken_first > 0)   -- the timing this is about came up
  end)
end)
