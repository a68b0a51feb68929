local corral = require "corral"
local testing = require "corral.testing"

-- The code under test: a deposit reads the balance, writes the ledger (a
-- checkpoint here), then stores the new balance. A refund is checked first.
local function deposit(account, amount, checked)
  if checked then corral.checkpoint() end -- the fraud check
  local seen = account.balance
  corral.checkpoint()                     -- the ledger write
  account.balance = seen + amount
end

local function salary_and_refund()
  local account = { balance = 100 }
  corral.group(function(g)
    g:spawn(deposit, account, 10)         -- salary
    g:spawn(deposit, account, 20, true)   -- refund
  end)
  assert.equal(130, account.balance)
end

describe("two deposits at once", function()
  it("pass in FIFO order #fifo", testing.async(salary_and_refund))

  it("lose an update in another order, which each_seed finds", function()
    local ok, err = pcall(testing.each_seed, 20, salary_and_refund)
    assert.is_false(ok)
    local seed = tonumber(tostring(err):match("^seed = (%d+): "))
    assert.matches("Expected objects to be equal.", tostring(err), 1, true)
    -- that seed replays the same schedule, so the same failure
    assert.has_error(function() testing.run(salary_and_refund, { seed = seed }) end)
  end)
end)
