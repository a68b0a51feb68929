-- The manager of a supervisor took a child's exit from its inbox, then
-- waited for the later initial children to begin before restarting it. A
-- cancel from outside during that wait (a sibling of the supervisor failed)
-- ended the manager with the exit in hand, where nothing kept its failure:
-- the child's error vanished from what the run raised. The exit now stays
-- in the inbox until the wait is over, so closing the inbox keeps it.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

-- Whether err (or a failure nested in it) is `want`.
local function holds(err, want)
  if err == want then return true end
  if not corral.is_error_group(err) then return false end
  for i = 1, #err.tasks do
    if holds(err.errors[i], want) then return true end
  end
  return false
end

describe("regression: a supervisor cancelled while a restart waits for the initial children", function()
  it("keeps the failure of the child that ended, under every schedule", function()
    for seed = 1, 180 do
      local turns, ran, heard = seed % 9, false, false
      local ok, err = pcall(testing.run, function()
        corral.group(function(g)
          g:spawn(function()                 -- fails a few turns in
            for _ = 1, turns do corral.checkpoint() end
            error("sibling failed", 0)
          end)
          g:spawn(function()
            supervisor.run({ strategy = "one_for_all",
              on_restart = function(_, e) heard = heard or e == "c1 failed" end,
              children = {
                { name = "c1", fn = function() ran = true; error("c1 failed", 0) end },
                { name = "c2", fn = function() corral.sleep(10) end },
                { name = "c3", fn = function() corral.sleep(10) end },
              } })
          end)
        end)
      end, { seed = seed })
      assert.is_false(ok)
      if ran then
        assert(heard or holds(err, "c1 failed"),
               ("seed %d, %d turns: c1's failure was lost"):format(seed, turns))
      end
    end
  end)
end)
