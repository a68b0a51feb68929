-- sup:stop() asked while the supervisor was winding a child down for a
-- one_for_all restart waited out that child's whole shutdown grace (stop(0)
-- did not cut it), then started a new instance of every child (its setup ran)
-- only to stop it again, with a second full grace when stop() had none.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function scenario(grace)
  local log, starts, hooks = {}, 0, 0
  local function note(s) log[#log + 1] = ("%s@%g"):format(s, corral.now()) end
  local failures = {}
  support.vrun(function()
    supervisor.run({
      strategy = "one_for_all",
      on_failure = function(name, err) failures[#failures + 1] = name end,
      on_restart = function() hooks = hooks + 1 end,
      children = {
        { name = "a", fn = function()
            starts = starts + 1
            local _ <close> = setmetatable({}, { __close = function() note("a-end") end })
            corral.sleep(math.huge)
          end },
        { name = "b", fn = function() corral.sleep(1); error("b fails") end },
      },
    }, function(sup)
      corral.sleep(5)
      note("stop")
      sup:stop(grace)
      note("stopped")
    end)
  end)
  return table.concat(log, " "), starts, failures, hooks
end

describe("regression: sup:stop() during a restart", function()
  it("cuts the grace of the child being wound down and starts nothing new", function()
    local log, starts, failures, hooks = scenario(0)
    assert.equal("stop@5 a-end@5 stopped@5", log)
    assert.equal(1, starts)
    assert.equal(0, hooks)               -- no restart happened: no on_restart
    assert.same({ "b" }, failures)       -- not restarted: reported
  end)

  it("without a grace, lets that child's own grace run out and starts nothing new", function()
    local log, starts = scenario(nil)
    assert.equal("stop@5 a-end@6 stopped@6", log)
    assert.equal(1, starts)
  end)

  it("a second stop with a shorter grace brings the end closer", function()
    local ended, returned = {}, {}
    support.vrun(function()
      supervisor.run({
        children = {
          { name = "a", shutdown = 10, fn = function()
              local _ <close> = setmetatable({}, { __close = function() ended[1] = corral.now() end })
              corral.sleep(math.huge)
            end },
        },
      }, function(sup)
        corral.group(function(g)
          g:spawn(function() sup:stop(); returned[1] = corral.now() end)
          g:spawn(function() corral.sleep(2); sup:stop(1); returned[2] = corral.now() end)
        end)
      end)
    end)
    assert.same({ 3 }, ended)
    assert.same({ 3, 3 }, returned)
  end)

  it("a stop asked from an on_restart hook takes effect instead of hanging", function()
    local S, stopped_at, starts = nil, nil, 0
    support.vrun(function()
      supervisor.run({
        children = {
          { name = "a", fn = function() starts = starts + 1; corral.sleep(1); error("x") end },
          { name = "b", fn = function() corral.sleep(math.huge) end },
        },
        on_restart = function() S:stop(0) end,
        on_failure = function() end,
      }, function(sup)
        S = sup
        corral.sleep(5)
      end)
      stopped_at = corral.now()
    end)
    assert.equal(5, stopped_at)            -- the body's end, not a deadlock
    assert.equal(1, starts)
  end)

  it("a stop asked while on_restart blocks starts nothing after the hook", function()
    local starts, log = 0, {}
    support.vrun(function()
      supervisor.run({
        strategy = "one_for_all",
        children = {
          { name = "a", fn = function() starts = starts + 1; corral.sleep(1); error("x") end },
          { name = "b", shutdown = 0, fn = function() corral.sleep(math.huge) end },
        },
        on_restart = function() corral.sleep(1); log[#log + 1] = "hook@" .. corral.now() end,
        on_failure = function(name) log[#log + 1] = "failed " .. name end,
      }, function(sup)
        corral.sleep(1.5)
        sup:stop(0)
        log[#log + 1] = "stopped@" .. corral.now()
      end)
    end)
    assert.equal(1, starts)
    -- on_restart heard of a's failure: the stop does not report it again
    -- (see a-stop-while-on-restart-ran-reported-the-crash-again_spec.lua)
    assert.same({ "hook@2.0", "stopped@2.0" }, log)
  end)

  it("add and restart asked before a stop but handled after it raise", function()
    local errs = {}
    support.vrun(function()
      supervisor.run({
        strategy = "one_for_all",
        children = {
          { name = "a", shutdown = 1, fn = function() corral.sleep(math.huge) end },
          { name = "f", fn = function() corral.sleep(3); error("x") end },
        },
        on_failure = function() end,
      }, function(sup)
        corral.group(function(g)
          g:spawn(function()                 -- the restart winds a down from 3 to 4
            corral.sleep(3.2)
            errs.add = select(2, pcall(sup.add, sup, { name = "c", fn = function() end }))
          end)
          g:spawn(function()
            corral.sleep(3.3)
            errs.restart = select(2, pcall(sup.restart, sup, "a"))
          end)
          g:spawn(function() corral.sleep(3.4); sup:stop() end)
        end)
      end)
    end)
    assert.truthy(tostring(errs.add):find("supervisor:add: the supervisor is stopping", 1, true), tostring(errs.add))
    assert.truthy(tostring(errs.restart):find("supervisor:restart: the supervisor is stopping", 1, true),
                  tostring(errs.restart))
  end)

  it("a request made from a hook says why it cannot wait", function()
    local err
    support.vrun(function()
      supervisor.run({
        children = {
          { name = "a", fn = function() corral.sleep(math.huge) end },
          { name = "f", fn = function() corral.sleep(1); error("x") end, restart = "transient" },
        },
        on_restart = function() err = select(2, pcall(function() err = err.sup:remove("a") end)) end,
      }, function(sup)
        err = { sup = sup }
        corral.sleep(1.5)
        sup:stop()
      end)
    end)
    assert.truthy(tostring(err):find("supervisor:remove: called from on_restart or on_failure", 1, true),
                  tostring(err))
  end)

  it("a stop asked while a manual restart winds down starts nothing, nor restarts a child that failed meanwhile", function()
    local starts, failed, hooks, err = { a = 0, y = 0 }, {}, 0, nil
    support.vrun(function()
      supervisor.run({
        intensity = 0,                     -- y's restart would give up
        children = {
          { name = "a", shutdown = 2, fn = function()
              starts.a = starts.a + 1
              corral.sleep(math.huge)
            end },
          { name = "y", fn = function()
              starts.y = starts.y + 1
              corral.sleep(1.5)
              error("y fails")
            end },
        },
        on_restart = function() hooks = hooks + 1 end,
        on_failure = function(name) failed[#failed + 1] = name end,
      }, function(sup)
        corral.group(function(g)
          g:spawn(function()
            corral.sleep(1)
            err = select(2, pcall(sup.restart, sup, "a"))   -- a winds down until 3
          end)
          g:spawn(function() corral.sleep(2); sup:stop() end)
        end)
      end)
    end)
    assert.same({ a = 1, y = 1 }, starts)
    assert.same({ "y" }, failed)
    assert.equal(0, hooks)
    assert.truthy(tostring(err):find("supervisor:restart: the supervisor is stopping", 1, true), tostring(err))
  end)
end)
