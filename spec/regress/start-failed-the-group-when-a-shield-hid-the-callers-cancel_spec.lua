-- A g:start child called ready(v) while its caller was cancelled (v was
-- dropped), then a shield set by the child hid that cancel from the caller,
-- and the child finished without a cancellation point. start found the
-- caller no longer cancelled and raised "the task called ready while the
-- caller was cancelled (its value was dropped), then finished": a new
-- error, which the enclosing group then collected as a failure. Trio's
-- start returns the value started() recorded; so does corral's now.
local corral = require "corral"
local support = require "support"

-- pcall(g:start, child): the child cancels the caller's scope, calls
-- ready("v") (dropped: the caller is cancelled), shields the caller from that
-- cancel, then does `after()`.
local function start_after_hidden_cancel(after)
  local r
  support.vrun(function()
    corral.group(function(g)
      corral.scope(function(outer)
        corral.scope(function(inner)
          r = table.pack(pcall(g.start, g, function(ready)
            outer:cancel("c")
            ready("v")              -- the caller is cancelled: not moved
            inner.shield = true     -- the caller no longer sees the cancel
            after()
          end))
        end)
      end)
    end)
  end)
  return table.unpack(r, 1, r.n)
end

describe("regression: start failed the group when a shield hid the caller's cancel", function()
  it("start returns the value ready was given", function()
    local child
    local ok, got = start_after_hidden_cancel(function() child = corral.current_task() end)
    assert.is_true(ok)
    assert.equal("v", got)
    assert.equal("done", child.status)
  end)

  -- (it said "the task was cancelled before it called ready")
  it("so does it when the child then cancels itself", function()
    local ok, got = start_after_hidden_cancel(function()
      corral.current_task():cancel("self")
      corral.checkpoint()
    end)
    assert.is_true(ok)
    assert.equal("v", got)
  end)

  it("a child that fails after such a ready still fails start", function()
    local ok, err = start_after_hidden_cancel(function() error("late", 0) end)
    assert.is_false(ok)
    assert.equal("late", err)
  end)
end)
