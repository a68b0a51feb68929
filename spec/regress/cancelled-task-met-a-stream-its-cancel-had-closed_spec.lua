-- A group with a writer parked on a stream and a task that had not yet
-- reached its first read of that stream, cancelled: the writer's cancel
-- closes the stream (a cancelled write does), and the other task's read
-- then raised "attempt to use a closed stream", a failure of the group,
-- where the cancel should simply have ended it.
local corral = require "corral"
local testing = require "corral.testing"

-- (every reading method: read_line, read_exactly and lines failed so too
-- after the fix for read)
local READS = {
  -- (and a shutdown in the task's cleanup: it raised the plain error)
  shutdown = function(s) s:shutdown() end,
  read = function(s) return s:read() end,
  read_line = function(s) return s:read_line() end,
  read_exactly = function(s) return s:read_exactly(10) end,
  lines = function(s) for _ in s:lines() do end end,
}

describe("a task cancelled before its first read of a stream a cancelled write closed", function()
  local big = string.rep("x", 64 << 20)
  for name, read in pairs(READS) do
    it("ends cancelled, not failed (" .. name .. ")", testing.async(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)   -- never reads
      local s <close> = l:accept()
      local reader_ran = false
      corral.group(function(g)
        g:spawn(function() s:write(big) end)            -- parks: nobody reads
        testing.wait_all_tasks_blocked()
        g:spawn(function() reader_ran = true; read(s) end)
        g:cancel()                                       -- before the reader runs
      end)
      assert.is_true(reader_ran)
      assert.is_true(s.closed)
    end, { clock = "real" }))
  end
end)
