-- With a signal watcher active (the corral command's default, run{signals =
-- true}), a deadline that came due while libuv ran its timers woke tasks in
-- the timer phase, and the poll phase then blocked for ever on the signal
-- handle while the run queue was full: many tasks sleeping short random
-- times under `corral script.lua` hung about every other run.
local corral = require "corral"

describe("regression: timers and signal watchers together", function()
  it("a task sleeping a few thousand short times finishes with signals on (real clock)", function()
    local n = 0
    corral.run(function()
      for _ = 1, 1500 do
        corral.sleep(0.0003)
        n = n + 1
      end
    end, { signals = true })
    assert.equal(1500, n)
  end)

  it("thousands of short random sleeps finish with signals on (real clock)", function()
    local done = 0
    local rng = 12345
    local function rand()            -- deterministic, no global state touched
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng / 2147483648
    end
    corral.run(function()
      corral.group(function(g)
        for _ = 1, 3000 do
          local d = rand() * 0.004
          g:spawn(function()
            for _ = 1, 3 do corral.sleep(d) end
            done = done + 1
          end)
        end
      end)
    end, { signals = true })
    assert.equal(3000, done)
  end)
end)
