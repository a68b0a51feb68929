-- A task closed from outside (a copy of coroutine.close taken before require
-- "corral") while it waited in g:start for a child of another group: the
-- child hung below the starter's scopes, which exited with the starter, and
-- it became a second root of the run, never cancelled (the group around the
-- starter defers errors, so the starter's failure cancelled nothing). It is
-- cancelled now, as a cancel of its starter would, and its own group joins it.
-- A first version left it marked as starting: a failure after the cancel went
-- to the starter, which was gone, and no group reported it.
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close
local coroutine_of = support.task_coroutine

describe("regression: a starter closed from outside", function()
  it("cancels the child it was starting, which stays its group's child", function()
    local child_cancelled, child_ended, roots, listed
    pcall(support.vrun, function()
      local g2
      corral.group(function(top)
        top:spawn(function()
          corral.group(function(g) g2 = g; corral.sleep(5) end)
        end)
        top:spawn(function()
          corral.sleep(0.01)
          local starter = top:spawn({ function()
            g2:start({ function(ready)
              local ok, err = pcall(corral.sleep, 100)
              child_cancelled = not ok and corral.is_cancelled(err)
              child_ended = corral.now()
              ready()
            end, name = "child" })
          end, name = "starter" })
          corral.sleep(0.1)
          raw_close(coroutine_of(starter))
          corral.scope(function() corral.sleep(1) end, { shield = true })
          listed = #g2:tasks()
          roots = 0
          for line in corral.tree():gmatch("[^\n]+") do
            if line:match("^task ") then roots = roots + 1 end
          end
        end)
      end, { defer_errors = true })
    end)
    assert.is_true(child_cancelled)
    assert.equal(0.11, child_ended)
    assert.equal(1, roots)
    assert.equal(0, listed)             -- its group saw it end
  end)

  it("leaves the child's later failure to the child's group", function()
    local child
    local ok, err = pcall(support.vrun, function()
      corral.group(function(g)
        pcall(corral.group, function(h)
          local starter = h:spawn(function()
            g:start({ function()
              child = corral.current_task()
              corral.scope(function() corral.sleep(0.2) end, { shield = true })
              error("failed after its starter was closed", 0)
            end, name = "child" })
          end)
          corral.sleep(0.1)
          raw_close(coroutine_of(starter))
        end)
      end)
    end)
    assert.equal("failed", child.status)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.same({ "failed after its starter was closed" }, err.errors)
    assert.same({ "child" }, err.tasks)
  end)
end)
