-- Found by the second hostile pass.
--
-- §9: retry's k-th wait is min(delay·factor^(k−1), max_delay). With delay = 0
-- the product is 0 · factor^(k−1), which is NaN once factor^(k−1) overflows to
-- inf: at the 1025th attempt with the default factor 2 (so `{attempts =
-- math.huge, delay = 0}`, "retry at once, forever", stops after 1024
-- attempts), and at once with factor = math.huge; likewise delay = math.huge
-- with factor = 0. math.min(NaN, max_delay) is NaN, corral.sleep(NaN) raises
-- "bad argument #1 to 'sleep'", and that error replaces the attempt's own:
-- retry neither goes on nor "raises the last attempt's error unchanged".
-- (Fix: a wait of delay = 0 is 0; clamp a NaN or inf product to max_delay.)
local corral = require "corral"
local retry = require "corral.retry"
local support = require "support"
local vrun = support.vrun

describe("regression: retry's wait is never NaN", function()
  it("retries at once, forever, past 1024 attempts (delay = 0)", function()
    local n
    vrun(function()
      n = retry(function(attempt)
        if attempt < 2000 then error("not yet") end
        return attempt
      end, { attempts = math.huge, delay = 0 })
    end)
    assert.equal(2000, n)
  end)

  for _, o in ipairs({
    { delay = 0, factor = math.huge, attempts = 3 },
    { delay = math.huge, factor = 0, attempts = 3 },
  }) do
    it(("raises the last error unchanged with delay = %g, factor = %g"):format(o.delay, o.factor), function()
      local last = setmetatable({}, { __tostring = function() return "the last error" end })
      local ok, err
      vrun(function()
        ok, err = pcall(retry, function() error(last) end, o)
      end)
      assert.is_false(ok)
      assert.equal(last, err)
    end)
  end
end)
