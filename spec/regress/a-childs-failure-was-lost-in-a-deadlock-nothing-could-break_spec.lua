-- A group whose child failed while another child waited, shielded, on
-- something that could never come: the deadlock's cancel could not reach
-- the shielded one, so the group never exited and never raised its
-- ErrorGroup, and corral.run's deadlock report (the task tree) only said
-- "cancelled: failure by task-4" -- the failure itself, its message, was
-- gone. The tree now shows a group's failures, so the report tells them.
local corral = require "corral"
local support = require "support"

describe("regression: a child's failure was lost in a deadlock nothing could break", function()
  local function run_stuck(failing_child)
    local ok, err = pcall(support.unwrapped_run(), function()
      corral.group(function(g)
        g:spawn(function()
          corral.scope(function() corral.event():wait() end, { shield = true })
        end)
        g:spawn(failing_child)
      end)
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("deadlock", err, 1, true)
    return err
  end

  it("the report names the failure and its task", function()
    local err = run_stuck(function() error("important failure", 0) end)
    assert.matches("failures: [task-4] important failure", err, 1, true)
  end)

  it("so does it for a __close that raised during the deadlock's cancel", function()
    local err = run_stuck(function()
      local _ <close> = setmetatable({}, { __close = function() error("close failed", 0) end })
      corral.event():wait()
    end)
    assert.matches("[task-4] close failed", err, 1, true)
  end)

  -- (a __name that was not a string was left on the stack: the next
  -- failure's line read the wrong slots, and the tree raised)
  it("an error whose metatable has a __name that is not a string", function()
    local function odd() error(setmetatable({}, { __name = 42 }), 0) end
    local err = run_stuck(odd)
    assert.matches("[task-4] (a table error value)", err, 1, true)
    local text
    support.vrun(function()
      pcall(corral.group, function(g)
        g:spawn(odd):wait()
        g:spawn(function() error("two", 0) end):wait()
        text = corral.tree()
      end, { defer_errors = true })
    end)
    assert.matches("failures: [task-3] (a table error value), [task-4] two", text, 1, true)
  end)

  it("the table form gives the raw error values", function()
    local e = setmetatable({}, { __tostring = function() error("never called") end })
    local node, text
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        g:spawn(function() error(e) end):wait()
        node = corral.tree { format = "table" }.children[1]
        text = corral.tree()
      end, { defer_errors = true })
    end)
    assert.equal(e, eg.errors[1])
    assert.equal(e, node.failures[1].error)
    assert.equal("task-3", node.failures[1].task)
    assert.matches("failures: [task-3] (a table error value)", text, 1, true)
  end)
end)
