-- spec/regress/run-group-and-scope-dropped-a-second-options-table_spec.lua
--
-- Broke: corral.run, corral.group and corral.scope ignored arguments past
-- their options table, so `corral.group(body, {name = "pool"},
-- {defer_errors = true})` ran a group that cancelled on the first failure,
-- and `corral.run(main, {clock = "virtual"}, {seed = 7})` ran unseeded,
-- without a word, where every other call with a fixed list of arguments
-- refuses one more ("so a timeout passed positionally is never silently
-- dropped"). They now refuse it too, even a nil.
local corral = require "corral"
local support = require "support"

describe("regression: run, group and scope with an argument past their options", function()
  it("corral.run refuses it before running anything", function()
    local ran = false
    local ok, err = pcall(corral.run, function() ran = true end, { clock = "virtual" }, { seed = 7 })
    assert.is_false(ok)
    assert.matches("bad argument #3 to '[%w.]*run' %(no argument expected%)", err)
    assert.is_false(ran)
    assert.has_error(function() corral.run(function() end, nil, nil) end)
  end)

  it("corral.group and corral.scope refuse it, and run nothing", function()
    support.vrun(function()
      local ran = false
      local ok, err = pcall(corral.group, function() ran = true end, { name = "pool" },
        { defer_errors = true })
      assert.is_false(ok)
      assert.matches("bad argument #3 to '[%w.]*group' %(no argument expected%)", err)
      ok, err = pcall(corral.scope, function() ran = true end, { timeout = 1 }, 5)
      assert.is_false(ok)
      assert.matches("bad argument #3 to '[%w.]*scope' %(no argument expected%)", err)
      assert.is_false(ran)
      -- two arguments, or one, are as before
      assert.equal(3, corral.group(function() return 3 end, nil))
      assert.equal(4, corral.scope(function() return 4 end))
    end)
  end)
end)
