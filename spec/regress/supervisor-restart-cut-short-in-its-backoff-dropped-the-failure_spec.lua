-- An outer cancellation that came while a restart's new instance waited out
-- its backoff dropped the failure that restart was for, while one cut short
-- in on_restart, or while one_for_all stopped the others, raised it. (Since
-- 0.14.0 none of them raises it: the decision to restart dealt with the
-- failure, and an outer cancel leaves in peace; see
-- supervisor-cancel-during-a-restart-backoff-raised-a-handled-crash_spec.lua.)
-- And two manual restarts of one child, the second overtaking the first
-- before it began, started it once but counted two restarts.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

describe("regression: two manual restarts, the second before the first began", function()
  it("start the child once and count one restart", function()
    local seen, counted = {}, nil
    support.vrun(function()
      supervisor.run({ children = { { name = "a", fn = function() corral.sleep(math.huge) end },
        { name = "b", fn = function(child)
            seen[#seen + 1] = child.restarts
            local _ <close> = setmetatable({}, { __close = function()
              corral.scope(function() corral.sleep(0.1) end, { shield = true })
            end })
            corral.sleep(math.huge)
          end } } },
        function(sup)
          corral.group(function(g)
            g:spawn(sup.restart, sup, "b")
            g:spawn(sup.restart, sup, "b")
          end)
          for _, c in ipairs(sup:children()) do
            if c.name == "b" then counted = c.restarts end
          end
          sup:stop()
        end)
    end)
    assert.same({ 0, 1 }, seen)
    assert.equal(1, counted)
  end)
end)
