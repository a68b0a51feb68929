-- corral.testing checked some arguments late or vaguely: testing.async(fn, 5)
-- only failed once the test ran, blaming 'run'; each_seed(2.0, f) said "a
-- count or a list of seeds expected, got number" without saying that the
-- count must be an integer; each_seed({1, 2, "x"}, f) ran seeds 1 and 2
-- before it rejected "x". Each is now refused at once, by name.
local testing = require "corral.testing"
local support = require "support"

describe("regression: corral.testing's argument checks", function()
  it("refuse async's options when async is called", function()
    support.assert_arg_error(2, "async", "table expected, got number",
      function() testing.async(function() end, 5) end)
  end)

  it("say that each_seed's count must be an integer", function()
    -- (2.0 and "2" are 2, as Lua's own functions take them)
    support.assert_arg_error(1, "each_seed", "count must be an integer, got 2.5",
      function() testing.each_seed(2.5, function() end) end)
  end)

  it("check each_seed's whole list before running a seed", function()
    local ran = 0
    support.assert_arg_error(1, "each_seed", "seeds must be integers, got x",
      function() testing.each_seed({ 1, 2, "x" }, function() ran = ran + 1 end) end)
    assert.equal(0, ran)
  end)
end)
