-- t:traceback() of the failed task, asked inside its group's on_error
-- (which runs in that task's coroutine, so the task still "runs"), gave the
-- handler's own stack instead of where the task failed.
local corral = require "corral"

describe("regression: t:traceback() inside on_error", function()
  it("is where the task failed", function()
    local tb
    corral.run(function()
      corral.group(function(g)
        g:spawn(function()
          local function deep_failure() error("bad") end
          deep_failure()
        end)
      end, { on_error = function(_, t) tb = t:traceback(); return true end })
    end, { clock = "virtual" })
    assert.matches("bad\nstack traceback:", tb)
    assert.matches("in local 'deep_failure'", tb)
    assert.is_nil(tb:find("on_error", 1, true))
  end)
end)
