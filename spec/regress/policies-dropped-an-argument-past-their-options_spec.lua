-- spec/regress/policies-dropped-an-argument-past-their-options_spec.lua
--
-- Broke: race, gather, map, retry, happy_eyeballs.connect, supervisor.run
-- and the testing kit's run, async and each_seed ignored arguments past
-- their last, so `retry(fetch, {attempts = 5}, {timeout = 2})` retried
-- without a timeout and `testing.run(fn, {clock = "real"}, {seed = 3})` ran
-- unseeded, without a word. They now refuse one more (even nil), at the
-- caller's line, as corral's own calls do.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local one = function() return 1 end

describe("regression: a policy given an argument past its options", function()
  it("raises at the caller's line, naming the policy and the argument", function()
    support.vrun(function()
      local cases = {
        { "race", 3, function() local r = require("corral.race")({ one }, {}, { name = "x" }) return r end },
        { "gather", 3, function() local r = require("corral.gather")({ one }, nil, nil) return r end },
        { "map", 4, function() local r = require("corral.map")(one, { 1 }, {}, 1) return r end },
        { "retry", 3, function() local r = require("corral.retry")(one, { attempts = 5 }, { timeout = 2 }) return r end },
        { "happy_eyeballs.connect", 4, function()
            local r = require("corral.happy_eyeballs").connect("127.0.0.1", 1, {}, 1) return r end },
        { "supervisor.run", 3, function()
            local r = require("corral.supervisor").run({ children = {} }, function(s) s:stop() end, 1) return r end },
      }
      for _, case in ipairs(cases) do
        local ok, err = pcall(case[3])
        assert.is_false(ok, case[1])
        -- at the line of the call, in the function that made it
        local info = debug.getinfo(case[3], "S")
        local line = tonumber(err:match(("^[^\n]*:(%%d+): bad argument #%d to '%s' %%(no argument expected%%)$")
          :format(case[2], (case[1]:gsub("%.", "%%.")))))
        assert(line and line >= info.linedefined and line <= info.lastlinedefined, err)
      end
    end)
  end)

  it("holds for testing.run, async and each_seed", function()
    for _, case in ipairs({
      { "run", 3, function() local r = testing.run(one, { clock = "real" }, { seed = 3 }) return r end },
      { "async", 3, function() local r = testing.async(one, nil, 1) return r end },
      { "each_seed", 4, function() local r = testing.each_seed(2, one, nil, 1) return r end },
    }) do
      local ok, err = pcall(case[3])
      assert.is_false(ok, case[1])
      assert.matches(("bad argument #%d to '%s' %%(no argument expected%%)"):format(case[2], case[1]),
        err)
    end
    assert.equal(1, testing.run(one))
  end)
end)
