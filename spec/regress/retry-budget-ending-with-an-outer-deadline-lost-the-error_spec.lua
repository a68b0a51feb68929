-- retry with a budget, inside a fail_after that ends at the same instant: an
-- attempt cancelled there whose cleanup raised ("cleanup failed") was lost.
-- retry's budget check raised the Cancelled, which the outer scope took
-- (the outermost cancelled scope catches it), so retry never made it a
-- Timeout with the error as last_error, and the run raised the outer
-- Timeout with no trace of the error. A cancel from outside keeps the
-- attempt's error as it is, as the docs say, also when the budget ends then.
local corral = require "corral"
local retry = require "corral.retry"
local support = require "support"

describe("regression: retry's budget ending with an outer deadline", function()
  it("raises the attempt's error as it is, as for any cancel from outside", function()
    local err = support.raises(support.vrun, function()
      corral.fail_after(1, function()
        retry(function()
          pcall(corral.sleep, 5)             -- cancelled at 1, by both
          error("cleanup failed", 0)
        end, { attempts = 3, timeout = 1 })
      end)
    end)
    assert.equal("cleanup failed", err)
  end)

  it("still gives the budget's own Timeout when no outer scope ended", function()
    local err = support.raises(support.vrun, function()
      corral.fail_after(2, function()
        retry(function()
          pcall(corral.sleep, 5)             -- cancelled at 1, by the budget
          error("cleanup failed", 0)
        end, { attempts = 3, timeout = 1 })
      end)
    end)
    assert.is_true(corral.is_timeout(err))
    assert.equal(1, err.seconds)
    assert.equal("cleanup failed", err.last_error)
  end)
end)
