-- supervisor.run dropped failures no policy had dealt with. A child that
-- failed while an outer cancellation unwound it posted its end to the
-- manager, which was cancelled already: on_failure never saw it and nothing
-- was raised, where a plain group raises "[a] cleanup failed". The same loss
-- happened when on_restart or on_failure raised: only the hook's error came
-- out, not the child's failure it was given, nor a failure of a child while
-- the hook's error cancelled it; and to a failure whose one_for_all restart
-- an outer cancellation interrupted while it stopped the other children.
-- Such failures are now raised in the ErrorGroup of supervisor.run, after
-- the supervisor's own. (Since 0.14.0 the last case is raised only when an
-- on_restart hook would have heard of the failure and had not yet: without
-- one, the decision to restart dealt with it and the cancel leaves in peace.)
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

-- A child that fails while it is cancelled.
local function fails_in_cleanup()
  pcall(corral.sleep, math.huge)
  error("cleanup failed", 0)
end

local function crashes_at_1()
  corral.sleep(1)
  error("x crashed", 0)
end

describe("regression: supervisor.run under an outer cancellation", function()
  it("raises a child's failure while it was cancelled, as a group does", function()
    local seen = {}
    local eg = support.vrun(function()
      return support.error_group(corral.move_on_after, 1, function()
        supervisor.run({ on_failure = function(_, e) seen[#seen + 1] = e end,
          children = { { name = "a", fn = fails_in_cleanup } } })
      end)
    end)
    assert.same({ "cleanup failed" }, eg.errors)
    assert.same({ "a" }, eg.tasks)
    assert.matches("outer%-cancel_spec%.lua:%d+:", eg.tracebacks[1]) -- the child's own
    assert.same({}, seen)
  end)

  it("raises a failure while a stop was under way", function()
    local seen = {}
    local eg = support.vrun(function()
      return support.error_group(corral.move_on_after, 3, function()
        supervisor.run({ on_failure = function(_, e) seen[#seen + 1] = e end,
          children = { { name = "a", shutdown = 10, fn = function(c)
            c:wait_stopping()
            fails_in_cleanup()
          end } } }, function(sup) corral.sleep(1); sup:stop() end)
      end)
    end)
    assert.same({ "cleanup failed" }, eg.errors)
    assert.same({}, seen)
  end)
end)

describe("regression: an outer cancellation during a restart", function()
  it("raises the failure whose restart it interrupted before on_restart heard of it", function()
    local heard = false
    local eg = support.vrun(function()
      return support.error_group(corral.move_on_after, 3, function()
        supervisor.run({ strategy = "one_for_all", on_restart = function() heard = true end, children = {
          { name = "a", shutdown = 10, fn = function() corral.sleep(math.huge) end }, -- 10 s to stop
          { name = "x", fn = function(c) if c.restarts == 0 then crashes_at_1() end; c:wait_stopping() end },
        } })
      end)
    end)
    assert.same({ "x crashed" }, eg.errors)
    assert.same({ "x" }, eg.tasks)
    assert.is_false(heard)
  end)

  it("leaves in peace without an on_restart hook: the restart dealt with it", function()
    local r = support.vrun(function()
      return table.pack(pcall(corral.move_on_after, 3, function()
        supervisor.run({ strategy = "one_for_all", children = {
          { name = "a", shutdown = 10, fn = function() corral.sleep(math.huge) end },
          { name = "x", fn = function(c) if c.restarts == 0 then crashes_at_1() end; c:wait_stopping() end },
        } })
      end))
    end)
    assert.is_true(r[1], tostring(r[2]))
  end)
end)

describe("regression: a supervisor hook that raised", function()
  it("on_restart: keeps the failure it was given and those it cancelled", function()
    local eg = support.vrun(function()
      return support.error_group(supervisor.run, {
        on_restart = function() error("hook broke", 0) end,
        children = { { name = "a", fn = fails_in_cleanup }, { name = "x", fn = crashes_at_1 } } })
    end)
    assert.same({ "hook broke", "x crashed", "cleanup failed" }, eg.errors)
    assert.same({ "supervisor", "x", "a" }, eg.tasks)
  end)

  it("on_failure: keeps the failure it was given", function()
    local eg = support.vrun(function()
      return support.error_group(supervisor.run, {
        on_failure = function() error("hook broke", 0) end,
        children = { { name = "x", restart = "temporary", fn = crashes_at_1 } } },
        function() corral.sleep(5) end)
    end)
    assert.same({ "hook broke", "x crashed" }, eg.errors)
    assert.same({ "supervisor", "x" }, eg.tasks)
  end)
end)
