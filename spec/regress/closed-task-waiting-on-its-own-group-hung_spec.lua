-- A task closed from outside (a copy of coroutine.close taken before require
-- "corral") while it waited for the children of a group it had opened, or in
-- g:start, stayed parked: those waits refuse an abort, so nothing woke it,
-- the groups it opened were never cancelled, and the run hung or ended in the
-- deadlock report. The close now wakes it there too, and its groups are
-- cancelled and joined at once.
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close
local coroutine_of = support.task_coroutine

describe("regression: a task closed from outside", function()
  it("while it waits for its own group's children: they are cancelled, the task fails", function()
    local child_cancelled, ended_at
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local w = g:spawn({ function()
          corral.group(function(g2)
            g2:spawn(function()
              local ok, err = pcall(corral.sleep, math.huge)
              child_cancelled = not ok and corral.is_cancelled(err)
              ended_at = corral.now()
            end)
          end)
        end, name = "w" })
        corral.sleep(1)
        raw_close(coroutine_of(w))
      end)
    end)
    assert.is_true(child_cancelled)
    assert.equal(1, ended_at)
    assert.same({ "w" }, eg.tasks)
    assert.matches("closed from outside", eg.errors[1])
  end)

  it("while it waits in g:start for a child that never calls ready", function()
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local w = g:spawn({ function()
          corral.group(function(g2)
            g2:start(function() corral.sleep(math.huge) end)
          end)
        end, name = "w" })
        corral.sleep(1)
        raw_close(coroutine_of(w))
      end)
    end)
    assert.same({ "w" }, eg.tasks)
    assert.matches("closed from outside", eg.errors[1])
  end)
end)
