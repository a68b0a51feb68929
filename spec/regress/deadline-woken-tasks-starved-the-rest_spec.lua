-- Regression: tasks woken by a deadline run ahead of the other ready tasks
-- (so that a sleeper is not late behind thousands of spawned ones). Tasks
-- that loop on a short timeout, and whose round takes longer than it, kept
-- coming due: the head of the queue never emptied, and every task made ready
-- another way (a new task, a channel hand-off, a read) never ran again. The
-- two now take turns while both wait (the woken when a turn begins, then as
-- many of the others).
local corral = require "corral"

describe("regression: deadline-woken tasks", function()
  it("do not starve a new task or a channel hand-off (real clock)", function()
    local started, pings = false, 0
    corral.run(function()
      corral.group(function(g)
        local idle = corral.event()            -- nobody sets it
        for _ = 1, 20 do                       -- each round of them outlasts their timeout
          g:spawn(function()
            while true do
              local c0 = os.clock()
              while os.clock() - c0 < 2e-4 do end
              corral.move_on_after(1e-4, idle.wait, idle)
            end
          end)
        end
        corral.sleep(0.02)                     -- they keep coming due now
        local a, b = corral.channel(), corral.channel()
        g:spawn(function() while true do a:send(1); b:recv(); pings = pings + 1 end end)
        g:spawn(function() while true do a:recv(); b:send(1) end end)
        g:spawn(function() started = true end)
        -- (starved, they never run: the wait is long only on a loaded machine)
        local t0 = corral.now()
        repeat corral.sleep(0.01) until (started and pings > 0) or corral.now() - t0 > 5
        g:cancel()
      end)
    end)
    assert.is_true(started, "a task spawned among them never started")
    assert.is_true(pings > 0, "a channel hand-off among them never ran")
  end)
end)
