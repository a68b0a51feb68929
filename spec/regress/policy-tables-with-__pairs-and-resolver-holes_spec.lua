-- The policies checked the keys of the tables they are given with pairs, so
-- a __pairs showed keys that are not there: an options table whose __pairs
-- listed "bogus" raised "attempt to call a nil value" from corral's own
-- file, not the documented bad argument. They read keys raw now, as the
-- core's option check does. And happy_eyeballs took a resolver's list with
-- a hole at [1] (or a __len over nothing) for addresses it then never tried:
-- "all 0 attempts ... failed".
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local retry = require "corral.retry"
local happy_eyeballs = require "corral.happy_eyeballs"
local support = require "support"

local function shows(keys)
  return setmetatable({}, { __pairs = function() return next, keys end })
end

describe("regression: tables the policies are given", function()
  it("are checked raw: a __pairs shows no key that is not there", function()
    local results = {}
    support.vrun(function()
      local f = function() return 1 end
      results[1] = select(2, race({ f }, shows({ bogus = 1 })))
      results[2] = gather({ f }, shows({ bogus = 1 }))[1][1]
      results[3] = retry(f, shows({ bogus = 1 }))
    end)
    assert.same({ 1, 1, 1 }, results)
  end)

  it("happy_eyeballs refuses a resolver's list with a hole, and takes no __len for addresses", function()
    local hole, empty
    support.vrun(function()
      local function connect_with(list)
        local ok, e = pcall(happy_eyeballs.connect, "h", 1,
          { resolve = function() return list end,
            connect = function() error("not to be tried") end })
        return tostring(e)
      end
      hole = connect_with({ nil, { address = "127.0.0.1" } })
      empty = connect_with(setmetatable({}, { __len = function() return 1 end }))
    end)
    assert.equal("happy_eyeballs.connect: the resolver's addresses must be a list without "
                 .. "holes, got addresses[2] but no addresses[1]", hole)
    assert.equal("happy_eyeballs.connect: no address found for h", empty)
  end)
end)
