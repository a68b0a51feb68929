-- spec/regress/a-spec-whose-corral-run-was-stubbed-passed-without-running_spec.lua
--
-- Broke: with corral.run stubbed (busted's stub(corral, "run"), or
-- mock(corral, true)), a testing.async spec never ran its body and passed
-- green. The kit calls corral.run as it is at the call, and it noted that fn
-- started but never failed when it had not. A run that returns without
-- calling fn now fails, saying that corral.run is likely stubbed or mocked.
-- (The kit still looks corral.run up at each call rather than holding the one
-- of require time: a mocked module stubs every other corral function the kit
-- calls too, and a stub made before the kit was required would be held.)
local corral = require "corral"
local testing = require "corral.testing"

local NEVER = "never ran (corral.run returned without calling it: is it stubbed or mocked?)"

describe("a run whose corral.run is not corral's", function()
  it("fails a testing.async spec when corral.run is stubbed", function()
    local s = stub(corral, "run")
    finally(function() s:revert() end)
    local ran = false
    local ok, err = pcall(testing.async(function() ran = true end))
    s:revert()
    assert.is_false(ran)
    assert.is_false(ok)
    assert.matches("testing.async: the spec's function " .. NEVER, err, 1, true)
  end)

  it("fails testing.run and each_seed too", function()
    local s = stub(corral, "run")
    finally(function() s:revert() end)
    local ok, err = pcall(testing.run, function() end)
    local ok2, err2 = pcall(testing.each_seed, 2, function() end)
    s:revert()
    assert.is_false(ok)
    assert.matches("testing.run: fn " .. NEVER, err, 1, true)
    assert.is_false(ok2)
    assert.matches("testing.each_seed: fn " .. NEVER, err2, 1, true)
  end)

  it("fails a testing.async spec when the module is mocked", function()
    local m = mock(corral, true)
    finally(function() mock.revert(m) end)
    local ran = false
    local ok, err = pcall(testing.async(function() ran = true end))
    mock.revert(m)
    assert.is_false(ran)
    assert.is_false(ok)
    assert.matches("testing.async: the spec's function " .. NEVER, err, 1, true)
  end)
end)
