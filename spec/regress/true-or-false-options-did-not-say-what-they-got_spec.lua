-- A number option that was not a number said what it got ("timeout must be a
-- number of seconds, got string"), and the docs promise as much for every
-- option and writable field; but the true-or-false ones only said "shield
-- must be a boolean": {shield = 1}, {defer_errors = "yes"}, {signals = 1}
-- and s.shield = 1 left the reader to guess what had gone wrong. They all go
-- through one helper now, which names the type it got.
local corral = require "corral"
local support = require "support"

describe("regression: a true-or-false option of another type", function()
  it("says what it got, in every options table", function()
    support.vrun(function()
      for _, case in ipairs({
        { "scope", "shield", 1, "number", function(o) corral.scope(function() end, o) end },
        { "group", "shield", "yes", "string", function(o) corral.group(function() end, o) end },
        { "group", "defer_errors", "no", "string", function(o) corral.group(function() end, o) end },
      }) do
        local f, key, v, got, call = table.unpack(case)
        support.assert_arg_error(2, f, key .. " must be a boolean, got " .. got,
          function() call({ [key] = v }) end)
      end
    end)
    local ok, err = pcall(corral.run, function() end, { signals = 1 })
    assert.is_false(ok)
    assert.matches("signals must be a boolean, got number", err, 1, true)
  end)

  it("says what it got when written to a scope's or a group's field", function()
    support.vrun(function()
      corral.scope(function(s)
        local ok, err = pcall(function() s.shield = {} end)
        assert.is_false(ok)
        assert.matches("scope.shield must be a boolean, got table", err, 1, true)
      end)
      corral.group(function(g)
        local ok, err = pcall(function() g.shield = "true" end)
        assert.is_false(ok)
        assert.matches("group.shield must be a boolean, got string", err, 1, true)
      end)
    end)
  end)
end)
