-- A task (or a policy's branch) whose recursion overflowed the stack, some
-- 200,000 frames deep or more, took a quarter of a second to fail, and
-- longer each: its traceback walked its stack about 107 times over, because
-- Lua's lua_getstack walks from the top to the level asked for, and the
-- search for a policy's call looked at 64 levels near the bottom, each
-- costing the whole depth. Now that window narrows on a deep stack (to 8
-- levels) and the deepest level is found once: about 40 walks, as Lua's own
-- debug.traceback takes about 30. The work is counted, not timed
-- (corral.debug_stats().traceback_steps); the traceback keeps its shape.
local corral = require "corral"
local race = require "corral.race"
local support = require "support"

local function rec(x) return rec(x + 1) + 1 end

-- The first failure of f's ErrorGroup, its traceback, the frames walked,
-- and the depth the traceback says it skipped (plus the frames it shows).
-- (traceback_steps counts in the running run: read before it ends)
local function overflow(f)
  local ok, e, steps
  support.vrun(function()
    local before = corral.debug_stats().traceback_steps
    ok, e = pcall(f)
    steps = corral.debug_stats().traceback_steps - before
  end)
  assert(not ok and corral.is_error_group(e), tostring(e))
  local tb = e.tracebacks[1]
  local skipped = assert(tonumber(tb:match("%(skipping (%d+) levels%)")), tb)
  return e.errors[1], tb, steps, skipped + 21
end

describe("regression: a stack overflow's traceback", function()
  it("walks the stack a bounded number of times, and still ends at the task's function", function()
    local err, tb, steps, depth = overflow(function()
      corral.group(function(g) g:spawn(rec, 1) end)
    end)
    assert.matches("stack overflow", tostring(err))
    assert.is_true(depth > 100000, tb)
    assert.is_true(steps < 45 * depth, ("%d frames walked for a stack %d deep"):format(steps, depth))
    assert.matches(":14: in function <[^\n]*>\n\t%[C%]: in %?$", tb)
  end)

  it("of a policy's branch: bounded too, and the policy's frames still give way to [C]: in ?", function()
    local err, tb, steps, depth = overflow(function() race({ function() return rec(1) end }) end)
    assert.matches("stack overflow", tostring(err))
    assert.is_true(steps < 45 * depth, ("%d frames walked for a stack %d deep"):format(steps, depth))
    assert.is_nil(tb:find("race.lua", 1, true), tb)
    assert.matches("\n\t%[C%]: in %?$", tb)
  end)
end)
