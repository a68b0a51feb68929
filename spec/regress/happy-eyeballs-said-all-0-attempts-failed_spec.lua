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

  -- (it counted failures: one attempt cancelled and one failed read "the attempt")
  it("counts every attempt it made, also one that cancelled itself", testing.async(function()
    local ok, e = pcall(he.connect, "example.test", 443, {
      resolve = function() return TWO end,
      connect = function(address)
        if address == "192.0.2.1" then
          corral.current_task():cancel("give up")
          corral.checkpoint()
        end
        error("refused", 0)
      end,
    })
    assert.is_false(ok)
    -- (then it said "all 2 attempts ... failed", with one failure listed)
    assert.equal("happy_eyeballs.connect: 1 of 2 attempts (the others were cancelled) to "
      .. "connect to example.test port 443 failed", e.message)
    assert.same({ "refused" }, e.errors)
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
