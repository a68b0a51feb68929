-- sup:stop() returned at once, while the children were still ending, when the
-- supervisor's own task had failed (a hook raised) or been cancelled from
-- outside: the supervisor then cancels its children instead of stopping them
-- in order, and a stop asked by a task outside the supervisor (a signal
-- handler, say) found it "stopped already", and went on as if the children had
-- ended, as docs/policies.md says a stop returns. It now returns once they have
-- all ended, and sup:children() lists none from then on. A task of a child
-- that asks (in a shielded cleanup) does not wait for itself.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

-- A child that takes 2 s to clean up after its Cancelled.
local function slow_cleanup(log, extra)
  return function()
    local ok, e = pcall(corral.sleep, math.huge)
    corral.scope(function()
      if extra then extra() end
      corral.sleep(2)
    end, { shield = true })
    log:stamp("a ended")
    if not ok then error(e, 0) end
  end
end

-- Runs the supervisor (run(spec, body) in a task) and, in another task, a
-- sup:stop() at 1.5 s; logs when each ends and what sup:children() says.
local function stop_from_outside(run, log)
  support.vrun(function()
    local sup_
    corral.group(function(g)
      g:spawn(function()
        local ok = pcall(run, function(sup)
          sup_ = sup
          corral.sleep(math.huge)
        end)
        log:stamp("run ended " .. tostring(ok))
      end)
      g:spawn(function()
        corral.sleep(1.5)
        sup_:stop()
        log:stamp("stop returned, " .. #sup_:children() .. " listed")
      end)
    end)
  end)
end

describe("regression: a stop after the supervisor failed", function()
  it("returns once the children have ended, when a hook raised", function()
    local log = support.log()
    stop_from_outside(function(body)
      supervisor.run({ on_restart = function() error("hook broke", 0) end, children = {
        { name = "a", fn = slow_cleanup(log) },
        { name = "b", fn = function()
          corral.sleep(1)
          error("b crash", 0)
        end },
      } }, body)
    end, log)
    assert.same({ "a ended@3", "run ended false@3", "stop returned, 0 listed@3" }, support.by_time(log.items))
  end)

  it("returns once the children have ended, when the supervisor was cancelled from outside", function()
    local log = support.log()
    stop_from_outside(function(body)
      corral.move_on_after(1, supervisor.run, { children = { { name = "a", fn = slow_cleanup(log) } } }, body)
    end, log)
    assert.same({ "a ended@3", "run ended true@3", "stop returned, 0 listed@3" }, support.by_time(log.items))
  end)

  it("does not make a child that asks in its cleanup wait for itself", function()
    local log = support.log()
    local eg = support.vrun(function()
      return support.error_group(supervisor.run, { on_restart = function() error("hook broke", 0) end }, function(sup)
        sup:add({ name = "a", fn = slow_cleanup(log, function()
          sup:stop()
          log:stamp("a's stop returned")
        end) })
        sup:add({ name = "b", fn = function()
          corral.sleep(1)
          error("b crash", 0)
        end })
        corral.sleep(math.huge)
      end)
    end)
    assert.same({ "hook broke", "b crash" }, eg.errors)
    assert.same({ "a's stop returned@1", "a ended@3" }, log.items)
  end)
end)
