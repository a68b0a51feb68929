-- retry's contract: a budget that ends during an attempt cancels it and makes
-- retry raise a Timeout; one that would end in the wait raises the last error
-- at once. But a budget that ended while a hook ran between two attempts
-- (a retry_if or on_retry that blocked: a log shipped, a metric sent), or in
-- a wait that on_retry had delayed past it, made retry raise a Timeout though
-- no attempt was cut, and a hook that swallowed the Cancelled gave the last
-- error instead: two answers for one case. retry now raises the last error,
-- as for a wait that would end past the budget. Also, a Timeout a hook raised
-- of its own (its own fail_after, before the budget ended) had its `seconds`
-- and `last_error` overwritten as if it were the budget's.
local corral = require "corral"
local retry = require "corral.retry"
local support = require "support"

local function failing(log)
  return function(k)
    log[#log + 1] = k .. "@" .. support.time()
    error("fail " .. k, 0)
  end
end

describe("regression: a retry budget that ended between attempts raised a Timeout", function()
  it("a retry_if blocking past the budget: the last error, at the budget", function()
    local log = {}
    local err, t = support.vrun(function()
      return support.raises(retry, failing(log), { timeout = 1.5, delay = 0, attempts = 10,
        retry_if = function() corral.sleep(1); return true end }), corral.now()
    end)
    assert.equal("fail 2", err)
    assert.equal(1.5, t)
    assert.same({ "1@0", "2@1" }, log)
  end)

  it("an on_retry blocking past the budget: the last error, at the budget", function()
    local log = {}
    local err, t = support.vrun(function()
      return support.raises(retry, failing(log), { timeout = 1.5, delay = 0, attempts = 10,
        on_retry = function() corral.sleep(1) end }), corral.now()
    end)
    assert.equal("fail 2", err)
    assert.equal(1.5, t)
  end)

  it("an on_retry that leaves too little for the wait: the last error, at once", function()
    local log = {}
    local err, t = support.vrun(function()
      return support.raises(retry, failing(log), { timeout = 2, delay = 1, attempts = 10,
        on_retry = function() corral.sleep(1.5) end }), corral.now()
    end)
    assert.equal("fail 1", err)     -- at 1.5, the wait (1) would end at 2.5 > 2
    assert.equal(1.5, t)
    assert.same({ "1@0" }, log)
  end)

  it("a hook's own Timeout goes out as it was raised", function()
    local mine
    local err = support.vrun(function()
      return support.raises(retry, function() error("x", 0) end, { timeout = 100, delay = 0,
        on_retry = function()
          local ok, e = pcall(corral.fail_after, 1, corral.sleep, 2)
          mine = e
          error(e, 0)
        end })
    end)
    assert.is_true(rawequal(mine, err))
    assert.equal(1, err.seconds)
    assert.is_nil(rawget(err, "last_error"))
  end)
end)
