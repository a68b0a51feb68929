-- spec/regress/a-stream-pair-call-closed-from-outside-or-abandoned-held-the-stream-for-ever_spec.lua
--
-- Broke: a testing.stream_pair stream marked itself "being read" (a boolean)
-- and its write line took each write out with a to-be-closed that asked
-- corral.current_task() which task was leaving. A read or a write ended
-- neither by a return nor by a caught error kept the stream for good:
-- * its coroutine closed from outside (a copy of coroutine.close taken
--   before require "corral"): the close unwinds past every pcall, so the read
--   flag stayed set, and the write's to-be-closed ran in the closing task,
--   which took itself out instead;
-- * its task abandoned at a deadlock nothing could unwind (blocked inside a
--   shielded scope): nothing of it runs again, and the stream outlives the
--   run, so in the next run every read raised "another task is already
--   reading", every write waited behind the dead one, and a shutdown queued
--   behind it never sent the end of file.
-- A TCP stream's next call goes through. Now each call holds the stream
-- under its own task, to-be-closed, and a holder whose task has ended
-- ("cancelled", for an abandoned one) no longer counts.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"
local raw_close = support.raw_coroutine.close

-- fn() run until it deadlocks for good: its blocked tasks are abandoned.
-- (The suite's check of every run may report them as leaked instead.)
local function abandon(fn)
  local ok, err = pcall(testing.run, fn)
  assert.is_false(ok)
  err = tostring(err)
  assert.truthy(err:find("even after cancelling") or err:find("leaked"), err)
end

-- testing.stream_pair(opts), and a to-be-closed that closes both ends.
local function pair(opts)
  local a, b = testing.stream_pair(opts)
  return a, b, support.closer(function() a:close(); b:close() end)
end

local function shielded(fn)
  return function() corral.scope(fn, { shield = true }) end
end

-- In a group of its own, fn's task waits in a stream call, and its coroutine
-- is closed from outside.
local function close_from_outside(fn)
  local ok, err = pcall(corral.group, function(g)
    local t = g:spawn(fn)
    corral.sleep(1)
    raw_close(support.task_coroutine(t))
  end)
  assert.is_false(ok)
  assert.matches("closed from outside", tostring(err))
end

describe("regression: a stream_pair call closed from outside", function()
  it("lets go of the read: the next read gets the data", testing.async(function()
    local a, b, _ <close> = pair()
    close_from_outside(function() b:read() end)
    a:write("hi")
    assert.equal("hi", b:read())
  end))

  it("leaves the write line: the next write goes through", testing.async(function()
    local a, b, _ <close> = pair({ buffer = 1 })
    a:write("x")
    close_from_outside(function() a:write("y") end)   -- waits for room
    corral.group(function(g)
      g:spawn(function() a:write("z") end)
      assert.equal("x", b:read())
      assert.equal("z", b:read())
    end)
  end))
end)

describe("regression: a stream_pair call abandoned at a deadlock", function()
  it("keeps no reader off in the next run", function()
    local a, b, _ <close> = pair()
    abandon(function()
      corral.group(function(g) g:spawn(shielded(function() b:read() end)) end)
    end)
    testing.run(function()
      a:write("hi")
      assert.equal("hi", b:read())
    end)
  end)

  it("keeps no writer waiting in the next run", function()
    local a, b, _ <close> = pair({ buffer = 1 })
    abandon(function()
      a:write("x")
      corral.group(function(g) g:spawn(shielded(function() a:write("y") end)) end)
    end)
    testing.run(function()
      corral.group(function(g)
        g:spawn(function() a:write("z") end)
        assert.equal("x", b:read())
        assert.equal("z", b:read())
      end)
    end)
  end)

  it("holds up no shutdown queued behind it: the peer reads the end", function()
    local a, b, _ <close> = pair({ buffer = 1 })
    abandon(function()
      a:write("x")
      corral.group(function(g)
        g:spawn(shielded(function() a:write("y") end))
        corral.sleep(1)
        a:shutdown()                       -- due once that write is done
      end)
    end)
    testing.run(function()
      assert.equal("x", b:read())
      assert.is_nil(b:read())
    end)
  end)
end)
