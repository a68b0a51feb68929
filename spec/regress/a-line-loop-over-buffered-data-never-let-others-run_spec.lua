-- spec/regress/a-line-loop-over-buffered-data-never-let-others-run_spec.lua
--
-- Broke: a read that found its data in the stream's read-ahead buffer (64 kB)
-- returned without giving other tasks a turn, so `for line in s:lines()` over
-- short lines with a little work per line held every other task, timer and I/O
-- up until the buffer ran dry (a 10 ms sleeper woke 1.7 s late beside a TCP
-- handler reading pipelined 2-byte lines). A read or a write that did not have
-- to wait now gives way once the tasks that ran since the last poll have had
-- their 10 ms: a schedule point after its work (a first version gave way before
-- it, and a shutdown another task made meanwhile overtook the write).

local corral = require "corral"
local support = require "support"

local LINES = 30000                       -- 60,000 bytes: one read-ahead

describe("a line loop over data already buffered", function()
  it("lets another task run before it reaches the end", function()
    local n, result = 0, nil
    corral.run(function()
      -- all of it in the pipe before the first read: one read takes it all
      local p <close> = corral.exec("/usr/bin/awk", {
        "BEGIN { for (i = 0; i < " .. LINES .. "; i++) print \"x\" }" })
      assert.equal(0, p:wait())
      corral.group(function(g)
        local reader = g:spawn(function()
          for line in p.stdout:lines() do
            assert(line == "x")
            n = n + 1
            local t = os.clock()                 -- a little work per line
            while os.clock() - t < 0.000005 do end
          end
        end)
        result = support.watch_progress(g, reader, function() return n end, LINES)
      end)
    end)
    assert.equal(LINES, n)
    local midway, seen = result()
    assert.is_true(midway > 0, "the other task ran only at " .. seen)
  end)
end)
