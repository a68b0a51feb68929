-- Called outside corral.run, supervisor.run raised "corral.group: called
-- outside corral.run", and race, gather, map and happy_eyeballs.connect the
-- error of a call inside them, pointing into their own file
-- ("race.lua:33: corral.group: ..."). Errors name the call as the user
-- wrote it: each now raises "<its name>: called outside corral.run" at the
-- caller's line, as the core's functions do.
local supervisor = require "corral.supervisor"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local he = require "corral.happy_eyeballs"

local HERE = "^[^\n]*policies%-outside%-a%-run%-named%-corral%-group_spec%.lua:%d+: "

local function outside(name, f)
  local ok, err = pcall(f)
  assert.is_false(ok)
  assert.is_string(err)
  assert.matches(HERE .. name:gsub("%p", "%%%0") .. ": called outside corral%.run$", err)
end

describe("regression: a policy called outside corral.run", function()
  it("names itself, at the caller's line", function()
    outside("supervisor.run", function() supervisor.run({ children = { { name = "a", fn = print } } }) end)
    outside("supervisor.run", function() supervisor.run({}) end)
    outside("race", function() race({ print }) end)
    outside("gather", function() gather({ print }) end)
    outside("map", function() map(print, { 1 }) end)
    outside("happy_eyeballs.connect", function()
      he.connect("h", 80, { resolve = function() return { { address = "a" } } end })
    end)
  end)
end)
