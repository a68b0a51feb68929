-- race({f, x = g}) and gather({f, x = g}) ignored g, map(fn, {a = 1})
-- returned {}, map(fn, {1, nil, 3}) called fn(nil) or not depending on #,
-- supervisor.run(nil, body) ran the body with no spec, and
-- happy_eyeballs.interleave(5) raised "attempt to index a number value".
-- Each now raises a bad argument naming the function, as the supervisor
-- already did for its children.
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local supervisor = require "corral.supervisor"
local he = require "corral.happy_eyeballs"

local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return err
end

describe("regression: a policy given a table that is not a list", function()
  local f = function() return 1 end

  it("race and gather name the stray key", function()
    corral.run(function()
      assert.equal("bad argument #1 to 'race' (fns must be a list, got key 'x')",
                   message(race, { f, x = f }))
      assert.equal("bad argument #1 to 'gather' (fns must be a list, got key 'x')",
                   message(gather, { f, x = f }))
      assert.equal("bad argument #1 to 'race' (fns must be a list without holes, got fns[3] but no fns[2])",
                   message(race, { f, nil, f }))
    end)
  end)

  it("map names the stray key or the hole", function()
    corral.run(function()
      assert.equal("bad argument #2 to 'map' (items must be a list, got key 'a')",
                   message(map, f, { a = 1 }))
      assert.equal("bad argument #2 to 'map' (items must be a list without holes, got items[3] but no items[2])",
                   message(map, f, { 1, nil, 3 }))
      assert.same({}, map(f, {}))      -- an empty list is a list
    end)
  end)

  it("a proxy whose __len counts values it does not hold is refused by every policy alike", function()
    local function proxy(mk)
      return setmetatable({}, { __len = function() return 2 end,
                                __index = function(_, i) if i == 1 or i == 2 then return mk(i) end end })
    end
    corral.run(function()
      assert.equal("bad argument #1 to 'race' (fns must be a list of the values it holds, but #fns is 2 "
                   .. "and it holds 0)", message(race, proxy(function() return f end)))
      local err = message(supervisor.run, { children = proxy(function(i)
        return { name = "c" .. i, fn = f, restart = "temporary" }
      end) }, function() end)
      assert.matches("children must be a list of the values it holds, but #children is 2", err, 1, true)
      -- a __len that is not a number is shown as what it is, and one whose
      -- __tostring fails does not replace the complaint
      local quoted = setmetatable({ f, f }, { __len = function() return "2" end })
      assert.equal("bad argument #1 to 'race' (fns must be a list of the values it holds, but #fns "
                   .. "is \"2\" and it holds 2)", message(race, quoted))
      local odd = setmetatable({}, { __tostring = function() error("no text") end })
      local strange = setmetatable({ f }, { __len = function() return odd end })
      assert.equal("bad argument #1 to 'race' (fns must be a list of the values it holds, but #fns "
                   .. "is (a table value whose __tostring failed) and it holds 1)", message(race, strange))
      -- a metatable with methods but no __len is still a list
      local l = setmetatable({ f, f }, { __index = { extra = true } })
      assert.is_true(pcall(race, l))
    end)
  end)

  it("supervisor.run needs its spec", function()
    corral.run(function()
      assert.equal("bad argument #1 to 'supervisor.run' (table expected, got nil)",
                   message(supervisor.run, nil, function() end))
    end)
  end)

  it("happy_eyeballs.interleave checks its argument", function()
    assert.equal("bad argument #1 to 'happy_eyeballs.interleave' (table expected, got number)",
                 message(he.interleave, 5))
    assert.equal("bad argument #1 to 'happy_eyeballs.interleave' (address #1 is not a table "
                 .. "with an address string, got number)", message(he.interleave, { 5 }))
  end)
end)
