-- Regression: groups nested about 200 deep in one task end in "C stack
-- overflow", and each group wraps its body's failure in an ErrorGroup, so the
-- error sat about 190 levels down, below the 100 that rendering shows: the
-- message and the `corral` command printed a staircase of "ErrorGroup: 1
-- failure" ending in "(nested too deep to show)", and never the error. The
-- failures below the cut are shown now, flattened.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: groups nested too deep to show", function()
  it("still show the error at the bottom", function()
    local function nest(n)
      if n == 0 then corral.checkpoint() return end
      corral.group(function() nest(n - 1) end)
    end
    local ok, err = pcall(testing.run, function() nest(250) end)
    assert.is_false(ok)
    local text = tostring(err)
    assert.matches("nested too deep to show; its failures, flattened:", text, 1, true)
    assert.matches("C stack overflow", text, 1, true)
  end)

  it("show at most three failures below the cut, and count the rest", function()
    local eg = corral.error_group({ "a", "b", "c", "d", "e" }, { "1", "2", "3", "4", "5" })
    for _ = 1, 105 do eg = corral.error_group({ eg }, { "t" }) end
    local text = tostring(eg)
    assert.matches("|- a\n", text, 1, true)
    assert.matches("|- c\n", text, 1, true)
    assert.matches("`- (and 2 more)", text, 1, true)
    assert.is_nil(text:find("- d", 1, true))
  end)
end)
