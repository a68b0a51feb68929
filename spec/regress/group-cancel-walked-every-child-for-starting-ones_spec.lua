-- Every cancel of a group walked all its children's records to find the
-- ones still starting (g:start), a second pass over memory that cost a
-- cancelled group of 100,000 tasks two cache misses per task. The group now
-- counts its starting children and walks only when there are some; these
-- pin what the walk is for: a child still starting is cancelled with its
-- group, whichever way the group's other children stopped starting.
local corral = require "corral"
local support = require "support"

describe("regression: a group cancelled while a child starts", function()
  -- The starter is outside the group (a sibling task with a handle on it),
  -- so the starting child hangs below the starter's scope, not the group's.
  local function starting_outside(start_more)
    local seen, ok, err
    support.vrun(function()
      corral.group(function(outer)
        local g_ref
        outer:spawn(function()
          corral.group(function(g) g_ref = g; corral.sleep(5) end)
        end)
        corral.sleep(0.5)
        if start_more then start_more(g_ref) end
        outer:spawn(function() corral.sleep(1); g_ref:cancel("stop") end)
        ok, err = pcall(g_ref.start, g_ref, function(ready)
          local ok2, e2 = pcall(corral.sleep, 10)
          seen = not ok2 and corral.is_cancelled(e2)
          ready()
        end)
      end)
    end)
    return seen, ok, err
  end

  it("cancels a child starting for a task outside it", function()
    assert.is_true((starting_outside()))
  end)

  it("counts right after children that became ready or ended while starting", function()
    local seen = starting_outside(function(g)
      g:start(function(ready) ready(1) end)                      -- ready
      pcall(g.start, g, function() error("early", 0) end)        -- ended starting
      g:start(function(ready) corral.sleep(0.1); ready() end)    -- ready later
    end)
    assert.is_true(seen)
  end)
end)
