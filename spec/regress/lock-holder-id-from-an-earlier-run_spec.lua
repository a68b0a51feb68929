-- Task ids restart with each corral.run, and a lock knew its holder by id
-- only: a lock left held by task-3 of one run passed for held by the task-3
-- of a later run (which could release it), and the report named that
-- unrelated live task as the holder. A lock now also knows the run that gave
-- it its holder.
local corral = require "corral"
local support = require "support"

describe("regression: a lock left held by a task of an earlier run", function()
  it("cannot be released by a task with the same id in a later run", function()
    local mu = corral.lock()
    local holder_id, other_id, ok, err
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() holder_id = corral.current_task().id; mu:acquire() end)
      end)
    end)
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function()
          other_id = corral.current_task().id
          ok, err = pcall(mu.release, mu)
        end)
      end)
    end)
    assert.equal(holder_id, other_id)      -- the same id, another task
    assert.is_false(ok)
    assert.matches("held by another task", err)
    assert.is_true(mu.locked)
  end)

  it("is reported as held by a task of an earlier run, not by the live one with that id", function()
    local mu = corral.lock()
    support.vrun(function()
      corral.group(function(g) g:spawn(function() mu:acquire() end) end)
    end)
    local ok, err = pcall(support.vrun, function()
      corral.group(function(g)
        g:spawn(function() corral.event():wait() end)    -- a live task-3
        g:spawn(function() mu:acquire() end)
      end)
    end)
    assert.is_false(ok)
    -- ("task-3 (ended)" named the live task-3 of this run, which never held
    -- it; the holder that ended broke the lock, so the acquire raises)
    assert.matches("the task that held it %(#%d+ of an earlier run%) ended", tostring(err))
    assert.is_nil(tostring(err):find("held by task%-3"))
  end)
end)
