-- An outer deadline due at the instant the body called sup:add or
-- sup:remove: the request went in, the same cancel ended the supervisor,
-- and the call raised "the supervisor has stopped", which supervisor.run
-- raised as the body's failure in place of the Timeout. The caller is
-- cancelled: it raises its Cancelled, and the Timeout passes through.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

describe("a supervisor request whose caller's cancel ends the supervisor", function()
  for _, what in ipairs({ "add", "remove" }) do
    it("(" .. what .. ") raises the caller's Cancelled under every seed", function()
      testing.each_seed(50, function()
        local ok, e = pcall(corral.fail_after, 1, supervisor.run, {
          children = { { name = "w", shutdown = 0, fn = function() corral.sleep(math.huge) end } },
        }, function(sup)
          corral.sleep(1)                      -- the deadline is due now too
          if what == "add" then
            sup:add({ name = "late", fn = function() corral.sleep(math.huge) end })
          else
            sup:remove("w")
          end
          corral.sleep(math.huge)
        end)
        assert.is_false(ok)
        assert(corral.is_timeout(e), tostring(e))
      end)
    end)
  end
end)
