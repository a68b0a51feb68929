-- `{name = ""}` given to race, gather, map or supervisor.run passed their own
-- option checks and reached corral.group, which raised `bad argument #2 to
-- 'corral.group' (name is empty ...)`: a call the user never wrote. An empty
-- supervisor child name was worse: the child's spawn failed inside the
-- supervisor's task, an ErrorGroup pointing into supervisor.lua. Each now
-- refuses the empty name as a bad argument of the function that was called,
-- before anything runs.
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local supervisor = require "corral.supervisor"
local support = require "support"

local function raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.equal("string", type(err))
  return err
end

describe("regression: an empty name given to a policy", function()
  it("is a bad argument of race, gather and map, not of corral.group", function()
    support.vrun(function()
      local one = { function() return 1 end }
      local e = raised(race, one, { name = "" })
      assert.matches("bad argument #2 to 'race' %(name is empty", e)
      e = raised(gather, one, { name = "" })
      assert.matches("bad argument #2 to 'gather' %(name is empty", e)
      e = raised(map, function(x) return x end, { 1 }, { name = "" })
      assert.matches("bad argument #3 to 'map' %(name is empty", e)
      assert.not_matches("corral.group", e)
    end)
  end)

  it("is a bad argument of supervisor.run, for the supervisor and for a child", function()
    support.vrun(function()
      local ran = false
      local e = raised(supervisor.run, { name = "", children = {} },
        function(s) ran = true; s:stop() end)
      assert.matches("bad argument #1 to 'supervisor.run' %(name is empty", e)
      e = raised(supervisor.run,
        { children = { { name = "", fn = function() ran = true end } } })
      assert.matches("bad argument #1 to 'supervisor.run' %(children%[1%]%.name is empty", e)
      assert.is_false(ran)
    end)
  end)

  it("is refused by sup:add as its bad argument", function()
    support.vrun(function()
      supervisor.run({ children = {} }, function(sup)
        local e = raised(sup.add, sup, { name = "", fn = function() end })
        assert.matches("bad argument #1 to 'add' %(child%.name is empty", e)
        sup:stop()
      end)
    end)
  end)

  it("still takes a name that is not empty", function()
    support.vrun(function()
      assert.equal(1, (race({ function() return "x" end }, { name = "r" })))
      assert.equal(3, #map(function(x) return x end, { 1, 2, 3 }, { name = 7 }))
    end)
  end)
end)
