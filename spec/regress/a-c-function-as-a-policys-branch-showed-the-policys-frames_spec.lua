-- A C function given as a policy's branch (map(error, ...), gather({math.floor}))
-- was called by a Lua wrapper of the policy's: error("boom") got the
-- position of map.lua, a bad argument was named '?', and the branch's
-- traceback kept the policy's own frames because no Lua frame of the
-- program was left to end it at. As a task's function (g:spawn(error, "boom"))
-- it says "boom", and its traceback ends at the C function, then "[C]: in ?".
local corral = require "corral"
local race, gather, map = require "corral.race", require "corral.gather", require "corral.map"
local support = require "support"

local function first_failure(f)
  local ok, e = pcall(f)
  assert(not ok and corral.is_error_group(e), tostring(e))
  return e.errors[1], e.tracebacks[1]
end

describe("regression: a C function as a policy's branch", function()
  it("fails as it would as a task's function, and its traceback ends there", function()
    local got = {}
    support.vrun(function()
      got.map = { first_failure(function() map(error, { "boom" }) end) }
      got.gather = { first_failure(function() gather({ math.floor }) end) }
      got.settle = { first_failure(function()
        local r = gather({ math.floor }, { settle = true })
        error(corral.error_group({ r[1].err }, { "x" }, { r[1].traceback }), 0)
      end) }
      got.race = { first_failure(function() race({ math.floor }) end) }
    end)
    assert.equal("boom", got.map[1])
    assert.matches("\nstack traceback:\n\t%[C%]: in function 'error'\n\t%[C%]: in %?$", got.map[2])
    for _, k in ipairs({ "gather", "settle", "race" }) do
      assert.equal("bad argument #1 to 'math.floor' (number expected, got no value)", got[k][1])
      assert.matches("\nstack traceback:\n\t%[C%]: in function 'math%.floor'\n\t%[C%]: in %?$", got[k][2])
    end
  end)

  -- (the cut found corral._call by its name, which Lua takes from
  -- package.loaded: another name for the module, and the cut was skipped)
  it("ends there also when the corral table is loaded under another name", function()
    package.loaded.another_name_for_corral = corral
    local err, tb
    support.vrun(function() err, tb = first_failure(function() map(error, { "boom" }) end) end)
    package.loaded.another_name_for_corral = nil
    assert.equal("boom", err)
    assert.matches("\nstack traceback:\n\t%[C%]: in function 'error'\n\t%[C%]: in %?$", tb)
  end)
end)
