-- A g:start child called ready(v) while its caller was cancelled (v was
-- dropped), then a shield set by the child hid that cancel from the caller,
-- and the child finished without a cancellation point. start found the
-- caller no longer cancelled and raised "the task called ready while the
-- caller was cancelled (its value was dropped), then finished": a new
-- error, which the enclosing group then collected as a failure. Trio's
-- start returns the value started() recorded; so does corral's now.
local corral = require "corral"
local support = require "support"

describe("regression: start failed the group when a shield hid the caller's cancel", function()
  it("start returns the value ready was given", function()
    local got, child
    support.vrun(function()
      corral.group(function(g)
        corral.scope(function(outer)
          corral.scope(function(inner)
            got = g:start(function(ready)
              child = corral.current_task()
              outer:cancel("c")
              ready("v")              -- the caller is cancelled: not moved
              inner.shield = true     -- the caller no longer sees the cancel
            end)
          end)
        end)
      end)
    end)
    assert.equal("v", got)
    assert.equal("done", child.status)
  end)

  -- (it said "the task was cancelled before it called ready")
  it("so does it when the child then cancels itself", function()
    local got
    support.vrun(function()
      corral.group(function(g)
        corral.scope(function(outer)
          corral.scope(function(inner)
            got = g:start(function(ready)
              outer:cancel("c")
              ready("v")
              inner.shield = true
              corral.current_task():cancel("self")
              corral.checkpoint()
            end)
          end)
        end)
      end)
    end)
    assert.equal("v", got)
  end)

  it("a child that fails after such a ready still fails start", function()
    local err
    support.vrun(function()
      corral.group(function(g)
        corral.scope(function(outer)
          corral.scope(function(inner)
            err = select(2, pcall(g.start, g, function(ready)
              outer:cancel("c")
              ready("v")
              inner.shield = true
              error("late", 0)
            end))
          end)
        end)
      end)
    end)
    assert.equal("late", err)
  end)
end)
