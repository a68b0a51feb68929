-- A third hostile pass over the supervisor: a stop asked while the manager
-- waited for a restart's children to begin (they were waiting out their
-- backoff) was read only after the backoff, and those children's fns ran
-- after the stop; a one_for_one restart waiting out its backoff while the
-- manager was busy ran its fn after a stop asked meanwhile; a failure
-- whose restart a stop overtook was kept twice when on_failure raised; and
-- a remove of a child in its backoff, behind such an exit, waited out the
-- backoff, and the child's fn ran before it was removed.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

-- rest_for_one with a 1 s backoff: B fails at 0.1, so B and C wait out
-- their backoff until 1.1; A fails at 0.5, and its exit waits for them. At
-- 0.6 the body calls ask(sup). Returns how many fns began after that, and
-- how long ask took.
local function asked_during_backoff(ask)
  local late, took, asked = 0, nil, false
  local function count() if asked then late = late + 1 end end
  support.vrun(function()
    supervisor.run({
      strategy = "rest_for_one", intensity = 10, backoff = { delay = 1 },
      on_failure = function() end,
      children = {
        { name = "A", fn = function(c)
          if c.restarts == 0 then corral.sleep(0.5); error("A", 0) end
          c:wait_stopping()
        end },
        { name = "B", fn = function(c)
          count()
          if c.restarts == 0 then corral.sleep(0.1); error("B", 0) end
          c:wait_stopping()
        end },
        { name = "C", fn = function(c) count(); c:wait_stopping() end },
      },
    }, function(sup)
      corral.sleep(0.6)
      asked = true
      local t0 = corral.now()
      ask(sup)
      took = corral.now() - t0
      sup:stop()
    end)
  end)
  return late, took
end

describe("regression: a supervisor stopped during a restart's backoff", function()
  it("stops at once, starting nothing, while an exit waits for the backoff", function()
    local late, took = asked_during_backoff(function(sup) sup:stop() end)
    assert.equal(0, late)
    assert.equal(0, took)
  end)

  it("starts no one_for_one restart whose backoff ends after a stop was asked", function()
    local late = 0
    local stopped = false
    support.vrun(function()
      supervisor.run({
        strategy = "one_for_one", intensity = 10, backoff = { delay = 1 },
        on_failure = function() end,
        children = {
          { name = "A", fn = function(c)
            if stopped then late = late + 1 end
            if c.restarts == 0 then error("A", 0) end
            c:wait_stopping()
          end },
          { name = "B", shutdown = 5, fn = function(c) c:wait_stopping(); corral.sleep(2) end },
        },
      }, function(sup)
        corral.group(function(g)
          g:spawn(function() sup:remove("B") end)   -- keeps the manager busy 2 s
          corral.sleep(0.5)
          stopped = true
          sup:stop()
        end)
      end)
    end)
    assert.equal(0, late)
  end)

  it("handles a remove behind an exit that waits for the backoff, at once", function()
    local late, took = asked_during_backoff(function(sup) sup:remove("C") end)
    assert.equal(0, late)
    assert.equal(0, took)
  end)

  it("keeps a failure once when on_failure raises for it after a stop overtook its restart", function()
    local eg = support.error_group(support.vrun, function()
      supervisor.run({
        strategy = "one_for_all",
        on_failure = function(name) error("hook: " .. name, 0) end,
        children = {
          { name = "A", fn = function() corral.sleep(0.1); error("A failed", 0) end },
          { name = "B", fn = function(c) c:wait_stopping(); corral.sleep(1) end },
        },
      }, function(sup)
        corral.sleep(0.5)
        sup:stop()
      end)
    end)
    local count = 0
    for i = 1, #eg.tasks do
      if eg.errors[i] == "A failed" then count = count + 1 end
    end
    assert.equal(1, count)
  end)
end)
