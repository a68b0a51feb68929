-- policies.md: a hook's error is raised with the child's failure the hook
-- was given, and a Cancelled whose scope has exited is an ordinary error.
-- A hook that raised such a stale Cancelled was taken for an outer cancel:
-- the child's failure it was dealing with was dropped.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

describe("a supervisor hook that raises a stale Cancelled", function()
  for _, hook in ipairs({ "on_restart", "on_failure" }) do
    it("(" .. hook .. ") keeps the child's failure with it", testing.async(function()
      local stale
      corral.move_on_after(0, function() stale = select(2, pcall(corral.sleep, 1)) end)
      assert.is_true(corral.is_cancelled(stale))
      local spec = {
        children = { { name = "w", restart = hook == "on_restart" and "permanent" or "temporary",
                       fn = function() corral.sleep(1); error("child crashed", 0) end } },
      }
      spec[hook] = function() error(stale, 0) end
      local ok, e = pcall(supervisor.run, spec)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.equal(2, #e)
      -- (the group says what the stale Cancelled is: an ordinary error)
      assert.matches("^a Cancelled was raised outside the scope it cancelled", e.errors[1])
      assert.same({ "w", "child crashed" }, { e.tasks[2], e.errors[2] })
    end))
  end
end)
