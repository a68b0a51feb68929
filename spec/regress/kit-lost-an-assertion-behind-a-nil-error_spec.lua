-- corral.testing walked an ErrorGroup's errors with ipairs: a task that
-- failed with nil hid every failure after it, so a busted assertion failure
-- there was reported as an ErrorGroup error, not as the failure. A group that
-- contained itself made it overflow the stack and lose the error. And
-- each_seed(n) built the list 1..n before its first run: a huge count hung.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: the testing kit and odd ErrorGroups", function()
  it("finds an assertion failure behind a task that failed with nil", function()
    local ok, err = pcall(testing.run, function()
      corral.group(function(g)
        g:spawn(function() error() end)
        g:spawn(function() corral.sleep(1); assert.equal(1, 2) end)
      end, { defer_errors = true })
    end)
    assert.is_false(ok)
    assert.is_false(corral.is_error_group(err))
    assert.matches("Expected objects to be equal", tostring(err.message or err))
  end)

  it("raises a group that contains itself as it is", function()
    local eg = corral.error_group({ "real error" }, { "t" })
    eg.errors[1] = eg
    local ok, err = pcall(testing.run, function() error(eg, 0) end)
    assert.is_false(ok)
    assert.equal(eg, err)
  end)

  it("each_seed with a huge count runs seed 1 at once", function()
    local ok, err = pcall(testing.each_seed, math.maxinteger, function() error("at seed 1", 0) end)
    assert.is_false(ok)
    assert.equal("seed = 1: at seed 1", err)
  end)
end)
