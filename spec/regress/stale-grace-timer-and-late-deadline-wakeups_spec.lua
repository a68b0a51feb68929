-- Two findings of a review of the engine's timers:
-- * g:stop(grace) then a cancel (g:cancel, a failure, a deadline) left the
--   grace's timer armed until the group exited. It could end nothing any
--   more, but it kept the loop alive: a deadlock behind it was found only
--   when the grace ran out (30 s later on the real clock; the virtual clock
--   jumped there).
-- * Reading s.cancel_called fires a deadline that has passed (documented);
--   the tasks that cancel woke then ran behind tasks spawned but not
--   started, where a task woken by a deadline runs ahead of them.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun
-- (a deadlock abandons the tasks it cannot end: spec/helpers.lua's leak
-- check would take them for a leak)
local function vrun_raw(fn) return support.unwrapped_run()(fn, { clock = "virtual" }) end

describe("regression: a stop's grace after the group was cancelled", function()
  for _, how in ipairs({ "cancel", "stop(0)", "a failure" }) do
    it("keeps no timer: a deadlock behind it is found at once (" .. how .. ")", function()
      local err = support.raises(vrun_raw, function()
        corral.group(function(g)
          g:spawn(function()
            corral.scope(function() corral.event():wait() end, { shield = true })
          end)
          corral.sleep(0.01)
          g:stop(30)
          if how == "cancel" then g:cancel()
          elseif how == "stop(0)" then g:stop(0)
          else g:spawn(function() error("boom") end) end
        end)
      end)
      local text = tostring(err)
      assert.matches("deadlock", text)
      assert.matches("corral tree at 0%.010s", text)
    end)
  end

  it("still cancels at the end of the grace when nothing else did", function()
    local at
    vrun(function()
      corral.group(function(g)
        g:spawn(function()
          local ok = pcall(corral.sleep, math.huge)
          at = corral.now()
        end)
        g:stop(2)
      end)
    end)
    assert.equal(2, at)
  end)
end)

describe("regression: a deadline fired by reading cancel_called", function()
  it("puts the tasks it wakes ahead of tasks spawned but not started #fifo", function()
    local order = {}
    corral.run(function()
      corral.group(function(g)
        local s
        g:spawn(function()
          corral.scope(function(sc) s = sc; corral.event():wait() end, { timeout = 0.02 })
          order[#order + 1] = "woken by its deadline"
        end)
        corral.sleep(0.001)
        local t0 = corral.now()
        while corral.now() - t0 < 0.05 do end        -- compute past the deadline
        for i = 1, 2 do g:spawn(function() order[#order + 1] = "spawned " .. i end) end
        assert.is_true(s.cancel_called)
      end)
    end)
    assert.same({ "woken by its deadline", "spawned 1", "spawned 2" }, order)
  end)
end)
