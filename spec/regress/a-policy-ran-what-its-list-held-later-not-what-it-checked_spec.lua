-- race, gather and map checked their list at the call, then read fns[i] or
-- items[i] again when the branch's task started (after earlier branches had
-- run, with a limit, or simply a scheduler turn later): a branch that put
-- something else in the caller's table, or emptied a slot of it, changed what
-- a later branch ran ("attempt to call a nil value", a function nobody passed
-- to the policy). happy_eyeballs read each address again at its attempt,
-- minutes after the resolver's answer was checked. The policies now work on
-- the values they checked, as Trio's start_soon and asyncio.gather take their
-- arguments at the call.
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local happy_eyeballs = require "corral.happy_eyeballs"
local support = require "support"

describe("regression: a policy ran what its list held later, not what it checked", function()
  it("gather with a limit runs the functions it was given", function()
    support.vrun(function()
      local fns
      fns = { function() fns[2] = "junk"; fns[3] = nil; return 1 end,
              function() return 2 end, function() return 3 end }
      local r = gather(fns, { limit = 1 })
      assert.same({ { n = 1, 1 }, { n = 1, 2 }, { n = 1, 3 } }, r)
    end)
  end)

  it("race runs the functions it was given", function()
    support.vrun(function()
      local fns
      fns = { function() fns[2] = function() return "swapped" end; corral.sleep(1) end,
              function() corral.sleep(0); return "given" end }
      assert.same({ 2, "given" }, { race(fns) })
    end)
  end)

  it("map calls fn on the items it was given", function()
    support.vrun(function()
      local items = { "a", "b", "c" }
      local r = map(function(x) items[3] = nil; items[2] = "z"; return x end, items, { limit = 1 })
      assert.same({ "a", "b", "c" }, r)
    end)
  end)

  it("happy_eyeballs connects to the addresses the resolver gave", function()
    support.vrun(function()
      local addrs = { { address = "10.0.0.1", family = "inet" }, { address = "10.0.0.2", family = "inet" } }
      local asked = {}
      local s = happy_eyeballs.connect("h", 80, {
        resolve = function() return addrs end,
        connect = function(address)
          asked[#asked + 1] = address
          if address == "10.0.0.1" then
            addrs[2].address = 42
            error("refused", 0)
          end
          return { close = function() end }
        end,
      })
      assert.is_table(s)
      assert.same({ "10.0.0.1", "10.0.0.2" }, asked)
    end)
  end)
end)
