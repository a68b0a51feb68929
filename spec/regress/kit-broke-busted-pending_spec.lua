-- busted's pending() broke inside corral.testing: called in a child task it
-- reached busted as an ErrorGroup ("[task-3] not yet"), an error, where busted
-- expects its own pending value. The kit unwraps it from the group, as it does
-- busted's assertion failures, so that busted reports the test as pending.
local corral = require "corral"
local testing = require "corral.testing"

local function is_pending(e)
  local mt = type(e) == "table" and getmetatable(e)
  return type(mt) == "table" and mt.__type == "pending"
end

describe("regression: busted's pending under corral.testing", function()
  it("called in a child task stays busted's pending", function()
    local ok, err = pcall(testing.async(function()
      corral.group(function(g)
        g:spawn(function() pending("not yet") end)
      end)
    end))
    assert.is_false(ok)
    assert.is_true(is_pending(err))
    assert.matches("not yet$", err.message)
  end)

  it("under each_seed stays busted's pending, named by its seed", function()
    local ok, err = pcall(testing.each_seed, 2, function()
      corral.group(function(g)
        g:spawn(function() pending("later") end)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(is_pending(err))
    assert.equal("seed = 1: later", err.message)
  end)
end)
