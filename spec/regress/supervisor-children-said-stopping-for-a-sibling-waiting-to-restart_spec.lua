-- spec/regress/supervisor-children-said-stopping-for-a-sibling-waiting-to-restart_spec.lua
--
-- Broke: when a one_for_all or rest_for_one restart stopped the siblings one at
-- a time, sup:children() went on listing a sibling that had already ended as
-- "stopping" until it was started again, where the docs promise "restarting"
-- (it ended and will be started again); a temporary sibling, ended for good,
-- was listed too. Found by a port of Erlang/OTP's supervisor suite.

local corral = require "corral"
local supervisor = require "corral.supervisor"
local testing = require "corral.testing"

local function stubborn() pcall(corral.sleep, math.huge) end

-- What sup:children() says at each of `times`, under `strategy`: b fails at
-- 1 s, and the siblings take their 2 s grace each, in reverse order.
local function statuses(strategy, times)
  local seen = {}
  testing.run(function()
    supervisor.run({ strategy = strategy, on_failure = function() end, children = {
      { name = "a", shutdown = 2, fn = stubborn },
      { name = "b", fn = function(c)
          if c.restarts == 0 then corral.sleep(1); error("b") end
          stubborn()
        end },
      { name = "c", shutdown = 2, fn = stubborn },
      { name = "d", restart = "temporary", shutdown = 2, fn = stubborn },
    } }, function(sup)
      for _, at in ipairs(times) do
        corral.sleep_until(at)
        local t = {}
        for _, ch in ipairs(sup:children()) do t[#t + 1] = ch.name .. "=" .. ch.status end
        seen[#seen + 1] = table.concat(t, " ")
      end
      sup:stop(0)
    end)
  end)
  return seen
end

describe("sup:children() during a restart that stops the siblings", function()
  it("lists an ended sibling as restarting and drops a temporary one (one_for_all)", function()
    assert.same({
      "a=running b=restarting c=running d=stopping",   -- d winds down 1..3
      "a=running b=restarting c=stopping",             -- d gone; c 3..5
      "a=stopping b=restarting c=restarting",          -- c ended; a 5..7
    }, statuses("one_for_all", { 2, 3.5, 5.5 }))
  end)

  it("does the same for the later siblings (rest_for_one)", function()
    assert.same({
      "a=running b=restarting c=running d=stopping",
      "a=running b=restarting c=stopping",
      "a=running b=running c=running",                 -- b and c started again at 5
    }, statuses("rest_for_one", { 2, 3.5, 5.5 }))
  end)
end)
