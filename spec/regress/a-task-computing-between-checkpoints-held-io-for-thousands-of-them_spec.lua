-- spec/regress/a-task-computing-between-checkpoints-held-io-for-thousands-of-them_spec.lua
--
-- Broke: the loop polled I/O after a pass of up to 4,096 resumes, so a task that
-- computed for a while between its checkpoints (a cooperative busy task) held
-- every other task's I/O, signals and a host's requests up for 4,096 of its
-- chunks: a TCP round trip beside a task computing 20 ms chunks took over a
-- minute. A pass now also ends once it has lasted 10 ms (on the virtual clock
-- too, which first left it out; attached to a host's loop, its two passes
-- between polls share the 10 ms).

local corral = require "corral"

local function round_trip_beside_busy_task(opts)
  local laps, done_first
  corral.run(function()
    corral.group(function(g)
      local port = g:start(function(ready)
        corral.tcp.serve("127.0.0.1", 0, function(s)
          for line in s:lines() do s:write(line .. "\n") end
        end, { ready = ready })
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", port)
      local busy = g:spawn(function()
        for i = 1, 300 do                -- 300 chunks of 2 ms of CPU each
          local t = os.clock()
          while os.clock() - t < 0.002 do end
          laps = i
          corral.checkpoint()
        end
      end)
      c:write("ping\n")
      assert.equal("ping", c:read_line())
      done_first = busy.status ~= "done"
      g:cancel()
    end)
  end, opts)
  assert.is_true(done_first, "the round trip waited for all " .. tostring(laps) .. " chunks")
end

describe("a task that computes between checkpoints", function()
  it("lets a TCP round trip through long before its own work is done", function()
    round_trip_beside_busy_task()
  end)

  -- (where a pass ends changes no task's order: seeded runs still replay)
  it("does so on the virtual clock too (a test's real I/O)", function()
    round_trip_beside_busy_task({ clock = "virtual" })
  end)
end)
