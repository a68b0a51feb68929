-- Found by the hostile pass (it hung: kept apart so a hang shows up on its own).
--
-- ev1:wait() inside table.sort's comparator links the task into ev1's wait
-- queue, then lua_yieldk fails ("attempt to yield across a C-call boundary")
-- and the task runs on. Its next wait, ev2:wait(), links the same list node
-- into ev2's queue while ev1's queue still points at it: the queues are
-- corrupted, and the run spins for ever (or touches freed memory).
-- See blocking-call-that-cannot-yield_spec.lua for the class and the fix.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: a failed park inside a C call boundary", function()
  it("does not leave the task in the first event's queue when it waits on a second", function()
    local log = support.log()
    vrun(function()
      local ev1, ev2 = corral.event(), corral.event()
      corral.group(function(g)
        g:spawn(function()
          assert.is_false((pcall(table.sort, { 2, 1 }, function(a, b) ev1:wait() return a < b end)))
          ev2:wait()
          log:stamp("ev2 woke me")
        end)
        corral.sleep(1)
        ev1:set()
        corral.sleep(1)
        ev2:set()
      end)
    end)
    assert.same({ "ev2 woke me@2" }, log.items)
  end)
end)
