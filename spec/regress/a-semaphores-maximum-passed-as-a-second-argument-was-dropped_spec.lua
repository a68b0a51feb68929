-- corral.semaphore(1, 1) -- Trio's Semaphore(1, max_value=1), asyncio's
-- BoundedSemaphore -- made an unbounded semaphore and dropped the 1 without a
-- word, so a release too many silently added a permit where the program
-- meant it to raise. The constructors now refuse arguments past their last,
-- as every method and corral.sleep do ("Arguments past the last are refused").
local corral = require "corral"
local support = require "support"

describe("regression: an argument past a constructor's last", function()
  it("corral.semaphore(1, 1) raises instead of making an unbounded semaphore", function()
    support.assert_arg_error(2, "semaphore", "no argument expected", function() corral.semaphore(1, 1) end)
    support.assert_arg_error(2, "semaphore", "no argument expected", function() corral.semaphore(1, nil) end)
  end)

  it("corral.channel(cap, x), corral.lock(x) and corral.event(x) raise", function()
    support.assert_arg_error(2, "channel", "no argument expected", function() corral.channel(1, "jobs") end)
    support.assert_arg_error(1, "lock", "no argument expected", function() corral.lock(true) end)
    support.assert_arg_error(1, "event", "no argument expected", function() corral.event(false) end)
  end)

  it("the usual calls still work", function()
    assert.equal(2, corral.semaphore(2).value)
    assert.equal(0, corral.channel().capacity)
    assert.equal(math.huge, corral.channel(math.huge).capacity)
    assert.is_false(corral.lock().locked)
    assert.is_false(corral.event():is_set())
  end)
end)
