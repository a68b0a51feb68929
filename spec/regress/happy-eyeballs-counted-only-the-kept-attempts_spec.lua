-- happy_eyeballs.connect with more than 1000 failing attempts said "all
-- 1000 attempts ... failed": it counted the failures its ErrorGroup keeps,
-- not those counted in `dropped`. N is every attempt made.
local corral = require "corral"
local he = require "corral.happy_eyeballs"

describe("regression: happy_eyeballs.connect's count of failed attempts", function()
  it("counts the dropped failures too", function()
    local addrs = {}
    for i = 1, 1500 do addrs[i] = { address = "10.0." .. i // 256 .. "." .. i % 256, family = "inet" } end
    local attempts, ok, eg = 0
    corral.run(function()
      ok, eg = pcall(he.connect, "h", 80, { delay = 0.01,
        resolve = function() return addrs end,
        connect = function() attempts = attempts + 1; error("refused", 0) end })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.equal(1500, attempts)
    assert.equal(1000, #eg.errors)
    assert.equal(500, eg.dropped)
    assert.equal("happy_eyeballs.connect: all 1500 attempts to connect to h port 80 failed", eg.message)
  end)
end)
