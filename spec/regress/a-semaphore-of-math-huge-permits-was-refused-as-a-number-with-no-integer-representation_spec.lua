-- spec/regress/a-semaphore-of-math-huge-permits-was-refused-as-a-number-with-no-integer-representation_spec.lua
--
-- Broke: corral.semaphore(math.huge), the way Trio's CapacityLimiter(inf) reads
-- (and corral.channel(math.huge) means "no bound"), and corral.semaphore(1.5)
-- raised Lua's bare "number has no integer representation", which says nothing
-- about what the argument should be. They now say "permits must be an integer
-- >= 0", and for math.huge that math.maxinteger is the most a semaphore holds.
local corral = require "corral"
local support = require "support"

describe("corral.semaphore with a count that is not an integer", function()
  it("math.huge names the bound to use instead", function()
    local err = support.assert_arg_error(1, "semaphore", "permits must be an integer >= 0",
      function() corral.semaphore(math.huge) end)
    support.assert_mentions(err, "math.maxinteger")
    assert.equal(math.maxinteger, corral.semaphore(math.maxinteger).value)
  end)

  it("a fraction, -math.huge and NaN say an integer is wanted", function()
    for _, n in ipairs({ 1.5, -math.huge, 0 / 0 }) do
      support.assert_arg_error(1, "semaphore", "permits must be an integer >= 0",
        function() corral.semaphore(n) end)
    end
  end)

  it("integral floats and integer strings are still counts; other types still say what they got", function()
    assert.equal(2, corral.semaphore(2.0).value)
    assert.equal(3, corral.semaphore("3").value)
    support.assert_arg_error(1, "semaphore", "number expected, got table", function() corral.semaphore({}) end)
    support.assert_arg_error(1, "semaphore", "permits must be >= 0", function() corral.semaphore(-1) end)
  end)
end)
