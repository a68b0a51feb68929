-- The list of others after a child's assertion failure (testing.async)
-- read an ErrorGroup's fields as they came: one whose tracebacks had been
-- edited to a number, or held a value whose __tostring raised, replaced the
-- spec's assertion failure with an error of the kit; and a hand-built
-- ErrorGroup's error text was replaced by its traceback, which corral had
-- not made and which did not repeat it.
local corral = require "corral"
local testing = require "corral.testing"

-- The message of the failure testing.async raises when "check" fails an
-- assertion beside `other`.
local function beside(other)
  local ok, err = pcall(testing.async(function()
    corral.group(function(g)
      g:spawn({ function() assert.equal(1, 2) end, name = "check" })
      g:spawn({ other, name = "other" })
    end, { defer_errors = true })
  end))
  assert.is_false(ok)
  assert.is_table(err)
  assert.matches("Expected objects to be equal.", err.message, 1, true)
  assert.matches("(failed in task check)", err.message, 1, true)
  return err.message
end

describe("the others listed after a child's assertion failure", function()
  it("keep a hand-built ErrorGroup's text before its traceback", function()
    local m = beside(function()
      error(corral.error_group({ "disk full" }, { "writer" }, { "stack traceback:\n\there" }), 0)
    end)
    assert.matches("\n  [writer] disk full\n    stack traceback:\n    \there", m, 1, true)
  end)

  it("count edited fields as empty", function()
    local m = beside(function()
      local e = corral.error_group({ "disk full" }, { "writer" })
      e.tracebacks = 5
      error(e, 0)
    end)
    assert.matches("\n  [writer] disk full", m, 1, true)
    m = beside(function()
      local e = corral.error_group({ "disk full" }, { "writer" })
      e.errors, e.dropped = 5, "many"
      error(e, 0)
    end)
    assert.matches("\n  [writer] nil", m, 1, true)
  end)

  it("never raise on a traceback or a task name whose __tostring raises", function()
    local boom = setmetatable({}, { __tostring = function() error("tb boom") end })
    local m = beside(function()
      local e = corral.error_group({ "disk full" }, { "writer" })
      e.tasks, e.tracebacks = { boom }, { boom }
      error(e, 0)
    end)
    assert.matches("\n  [(a table value whose __tostring failed)] disk full", m, 1, true)
  end)
end)
