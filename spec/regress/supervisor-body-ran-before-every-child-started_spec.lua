-- supervisor.run let the body run before every child had started. With
-- one_for_all and a first child that fails before its first yield, the restart
-- stopped the last child before it began, and "stopped before it began" marked
-- that instance as begun: the body, waiting on it, ran while the restart's new
-- instances had not begun (under some seeds: the body saw a#0, b#0 and no c).
-- The body now waits until each child has begun at least one instance.
local support = require "support"
local supervisor = require "corral.supervisor"
local testing = require "corral.testing"

local function logging(log, name, fail_first)
  return function(child)
    log[#log + 1] = name .. "#" .. child.restarts
    if fail_first and child.restarts == 0 then error("init failed", 0) end
    child:wait_stopping()
  end
end

local function run_one_for_all()
  local log, seen = {}, nil
  supervisor.run({ strategy = "one_for_all", on_failure = function() end, children = {
    { name = "a", fn = logging(log, "a", true) },
    { name = "b", fn = logging(log, "b") },
    { name = "c", fn = logging(log, "c") },
  } }, function(sup)
    seen = table.concat(log, ",")
    sup:stop()
  end)
  return seen
end

describe("regression: a one_for_all supervisor whose first child fails at once", function()
  it("runs the body once every child has started, under seed 1", function()
    local seen = support.vrun(run_one_for_all, { seed = 1 })
    assert.truthy(seen:find("c#", 1, true), "the body ran after only " .. seen)
  end)

  it("runs the body once every child has started, under every schedule", function()
    testing.each_seed(100, function()
      local seen = run_one_for_all()
      assert.truthy(seen:find("b#", 1, true) and seen:find("c#", 1, true),
        "the body ran after only " .. seen)
    end, { clock = "virtual" })
  end)
end)
