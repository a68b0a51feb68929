-- happy_eyeballs.connect raised an empty ErrorGroup, "all 0 attempts ...
-- failed", when every attempt had cancelled itself (race says no branch
-- returned); and "no address found" for a resolver that returned a string
-- or a number instead of a list.
local corral = require "corral"
local testing = require "corral.testing"
local he = require "corral.happy_eyeballs"

local TWO = { { address = "192.0.2.1", family = "inet" }, { address = "2001:db8::1", family = "inet6" } }

describe("happy_eyeballs.connect", function()
  it("says every attempt was cancelled when each cancelled itself", testing.async(function()
    local attempts = 0
    local ok, e = pcall(he.connect, "example.test", 443, {
      resolve = function() return TWO end,
      connect = function()
        attempts = attempts + 1
        corral.current_task():cancel("give up")
        corral.checkpoint()
      end,
    })
    assert.is_false(ok)
    assert.equal(2, attempts)
    assert.equal("happy_eyeballs.connect: no attempt connected to example.test port 443 "
      .. "(every attempt was cancelled)", e)
  end))

  it("says a resolver's answer that is no table is not a list", testing.async(function()
    for _, answer in ipairs({ "192.0.2.1", 42, true }) do
      local ok, e = pcall(he.connect, "example.test", 443, { resolve = function() return answer end })
      assert.is_false(ok)
      assert.equal("happy_eyeballs.connect: the resolver's addresses must be a list of "
        .. "{address = ...} tables, got " .. type(answer), e)
    end
    local ok, e = pcall(he.connect, "example.test", 443, { resolve = function() return {} end })
    assert.is_false(ok)
    assert.equal("happy_eyeballs.connect: no address found for example.test", e)
  end))
end)
