-- A Timeout wrote its seconds with %g, six significant digits: a
-- fail_after(123456.789) said "after 123457s" and fail_after(1e6) "after
-- 1e+06s". It now writes them as Lua writes the number (%.14g), which also
-- hides the last-bit noise of an absolute deadline turned into seconds.
local corral = require "corral"

describe("regression: a timeout's message rounded its seconds to six digits", function()
  local function message(seconds)
    local ok, e = pcall(corral.run, function()
      corral.fail_after(seconds, corral.sleep, math.huge)
    end, { clock = "virtual" })
    assert.is_false(ok)
    return tostring(e)
  end

  it("gives the seconds as they were written", function()
    assert.equal("Timeout: deadline passed after 123456.789s", message(123456.789))
    assert.equal("Timeout: deadline passed after 1000000s", message(1e6))
    assert.equal("Timeout: deadline passed after 0.2s", message(0.2))
  end)

  it("fail_at's seconds from now read as written too", function()
    local ok, e = pcall(corral.run, function()
      corral.sleep(0.1)
      corral.fail_at(0.4, corral.sleep, math.huge)
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.equal("Timeout: deadline passed after 0.3s", tostring(e))
  end)
end)
