-- Regression (a verifier of the options rule): the testing kit refused what
-- the rest of corral takes, and named a function the program had not called.
-- * stream_pair{buffer = 4.0} and each_seed(2.0, fn) / each_seed({1.0}, fn)
--   refused integral floats, and each_seed("2", fn) a numeral argument;
-- * testing.run(fn, {seed = "5"}) said bad argument #2 to 'corral.run';
-- * sup:stop("3") refused the numeral that g:stop("3") converts.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

describe("regression: the testing kit's numbers and names", function()
  it("takes integral floats, and numeral arguments", function()
    local a, b = testing.stream_pair({ buffer = 4.0, max_chunk = 1.0 })
    assert.equal("testing.Stream(a)", tostring(a))
    assert.equal("testing.Stream(b)", tostring(b))
    local seen = {}
    testing.each_seed(2.0, function(s) seen[#seen + 1] = math.type(s) .. s end)
    testing.each_seed("1", function(s) seen[#seen + 1] = math.type(s) .. s end)
    testing.each_seed({ 3.0 }, function(s) seen[#seen + 1] = math.type(s) .. s end)
    assert.same({ "integer1", "integer2", "integer1", "integer3" }, seen)
    assert.error_matches(function() testing.each_seed(2.5, function() end) end,
      "bad argument #1 to 'each_seed' %(count must be an integer, got 2.5%)")
  end)

  it("names its own function for a bad value in the options of run", function()
    local ok, e = pcall(function() testing.run(function() end, { seed = "5" }) end)
    assert.is_false(ok)
    assert.matches(":%d+: bad argument #2 to 'run' %(seed must be an integer%)", e)
    ok, e = pcall(function() testing.each_seed(1, function() end, { trace_limit = 0 }) end)
    assert.is_false(ok)
    assert.matches("_spec.lua:%d+: bad argument #3 to 'each_seed' %(trace_limit must be", e)
  end)

  -- (the first fix left testing.async calling the kit's run without its
  -- name: an internal error; and a seed's own failure that quoted an
  -- each_seed option error lost its "seed = k: ")
  it("names async for a bad option, and keeps a seed's failure a failure", function()
    local ok, e = pcall(testing.async(function() end, { seed = "x" }))
    assert.is_false(ok)
    assert.matches("_spec.lua:%d+: bad argument #2 to 'async' %(seed must be an integer%)", e)
    ok, e = pcall(testing.each_seed, 1, function() error("bad argument #3 to 'each_seed' (mine)", 0) end)
    assert.is_false(ok)
    assert.equal("seed = 1: bad argument #3 to 'each_seed' (mine)", e)
    -- a kit call inside a seed refusing its own options is seed 1's failure
    ok, e = pcall(testing.each_seed, 1, function()
      testing.async(function() end, { trace_limit = 0 })()
    end)
    assert.is_false(ok)
    assert.matches("^seed = 1: .*bad argument #2 to 'async'", e)
  end)

  it("lets sup:stop convert a numeral grace, as g:stop does", function()
    testing.run(function()
      supervisor.run({ children = {} }, function(sup) sup:stop("3") end)
    end)
  end)
end)
