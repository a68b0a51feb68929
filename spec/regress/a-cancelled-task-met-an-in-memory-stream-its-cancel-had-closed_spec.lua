-- testing.stream_pair: a cancelled task whose next call met its stream
-- closed (by a cancelled write of the same cancel, or by another task) raised
-- "attempt to use a closed stream", or `ECLOSED` if it was woken before the
-- close: a failure of its group, where the cancel should simply have ended
-- it; and its shutdown in a cleanup raised instead of doing nothing. TCP
-- streams raise the task's Cancelled (see
-- cancelled-task-met-a-stream-its-cancel-had-closed); so do these now.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local CALLS = {
  shutdown = function(s) s:shutdown() end,
  read = function(s) return s:read() end,
  write = function(s) s:write("x") end,
  read_line = function(s) return s:read_line() end,
  read_exactly = function(s) return s:read_exactly(10) end,
  lines = function(s) for _ in s:lines() do end end,
}

describe("regression: a cancelled task met an in-memory stream its cancel had closed", function()
  for name, call in pairs(CALLS) do
    it("and ended cancelled, not failed (" .. name .. ")", testing.async(function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = a
      local _ <close> = b
      local ran = false
      a:write("full")
      corral.group(function(g)
        g:spawn(function() a:write("more") end)    -- waits for room
        testing.wait_all_tasks_blocked()
        g:cancel()                                  -- its cancel closes a
        g:spawn(function() ran = true; call(a) end) -- runs after the writer
      end)
      assert.is_true(ran)
      assert.is_true(a.closed)
    end))
  end

  it("a reader woken by data, then cancelled, then closed, raises its Cancelled", testing.async(function()
    local a, b = testing.stream_pair()
    local _ <close> = b
    local err
    corral.group(function(g)
      local t = g:spawn(function() err = support.raises(a.read, a) end)
      testing.wait_all_tasks_blocked()
      b:write("data")                               -- wakes the reader
      t:cancel()
      a:close()
    end)
    assert.is_true(corral.is_cancelled(err))
  end))

  it("a task not cancelled still gets the errors it got", testing.async(function()
    local a, b = testing.stream_pair()
    local _ <close> = b
    local err
    corral.group(function(g)
      g:spawn(function() err = support.raises(a.read, a) end)
      testing.wait_all_tasks_blocked()
      b:write("data")
      a:close()
    end)
    assert.equal("ECLOSED", err.code)
    support.assert_mentions(support.raises(a.shutdown, a), "stream:shutdown: attempt to use a closed stream")
  end))
end)
