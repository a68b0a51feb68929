-- A group, scope or task named "" was accepted and then printed as nothing:
-- `corral.Scope()`, `corral.Group(, 0 children)` and a tree line
-- `group  #3` whose name a reader could not tell from a missing one. An
-- empty name is now a bad argument at the call that gives it.
local corral = require "corral"

local MSG = "(name is empty; leave it out for the default)"

describe("regression: an empty name printed as nothing in the tree", function()
  it("is a bad argument to corral.scope, corral.group and g:spawn", function()
    local spawned = false
    corral.run(function()
      local ok, err = pcall(corral.scope, function() end, { name = "" })
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'corral.scope' " .. MSG, err)
      ok, err = pcall(corral.group, function() end, { name = "" })
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'corral.group' " .. MSG, err)
      corral.group(function(g)
        ok, err = pcall(g.spawn, g, { function() spawned = true end, name = "" })
      end)
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'corral.Group.spawn' " .. MSG, err)
    end, { clock = "virtual" })
    assert.is_false(spawned)
  end)

  it("still takes a one-character name and a number", function()
    corral.run(function()
      corral.group(function(g)
        assert.equal("x", g.name)
        assert.equal("0", g:spawn({ function() end, name = 0 }).name)
      end, { name = "x" })
    end, { clock = "virtual" })
  end)
end)
