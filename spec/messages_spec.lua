-- The messages of the most common mistakes, asserted word for word. Each names
-- the call as the user wrote it: `event:wait`, `channel:send`, `corral.sleep`
-- (a method with its receiver's kind and a colon, a module function with
-- `corral.`), or, for a bad argument, says it as Lua's own functions do.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"
local vrun = support.vrun

-- The message f(...) raises, without the "file:line: " in front (two of them
-- when a coroutine.wrap generator passes the error on).
local function message(f, ...)
  local err = support.raises(f, ...)
  assert.is_string(err)
  local text = err
  repeat
    local before = text
    text = text:gsub("^[^:\n]+:%d+: ", "")
  until text == before
  return text
end

local GENERATOR = "called from a coroutine that corral does not run (a blocking call inside your own "
  .. "coroutine, e.g. a coroutine.wrap generator, cannot be suspended by corral)"

describe("the ten most common mistakes", function()
  it("1. a method called with a dot instead of a colon", function()
    vrun(function()
      corral.group(function(g)
        assert.equal("bad argument #1 to 'spawn' (corral.Group expected, got function; "
          .. "call a method with a colon: obj:spawn(...))", message(function() g.spawn(print) end))
      end)
      local ev = corral.event()
      assert.equal("bad argument #1 to 'wait' (corral.Event expected, got no value; "
        .. "call a method with a colon: obj:wait(...))", message(function() ev.wait() end))
      -- with a colon but on the wrong object, Lua's own words
      local o = setmetatable({}, { __index = { send = corral.channel().send } })
      assert.equal("calling 'send' on bad self (corral.Channel expected, got table)",
        message(function() o:send(1) end))
    end)
  end)

  it("2. a blocking call outside corral.run", function()
    assert.equal("corral.sleep: called outside corral.run", message(corral.sleep, 1))
    local ev, ch, lock = corral.event(), corral.channel(1), corral.lock()
    assert.equal("event:wait: called outside corral.run", message(function() ev:wait() end))
    assert.equal("channel:send: called outside corral.run", message(function() ch:send(1) end))
    assert.equal("channel:recv: called outside corral.run", message(function() ch:recv() end))
    assert.equal("lock:acquire: called outside corral.run", message(function() lock:acquire() end))
    assert.equal("semaphore:acquire: called outside corral.run",
      message(function() corral.semaphore(1):acquire() end))
    assert.equal("corral.group: called outside corral.run", message(corral.group, print))
  end)

  it("3. a blocking call inside a coroutine.wrap generator", function()
    vrun(function()
      local ev, ch, lock, sem = corral.event(), corral.channel(), corral.lock(), corral.semaphore(0)
      local calls = {
        ["event:wait"] = function() ev:wait() end,
        ["channel:send"] = function() ch:send(1) end,
        ["channel:recv"] = function() ch:recv() end,
        ["lock:acquire"] = function() lock:acquire() end,
        ["lock:with"] = function() lock:with(print) end,
        ["semaphore:acquire"] = function() sem:acquire() end,
        ["corral.sleep"] = function() corral.sleep(1) end,
        ["corral.checkpoint"] = function() corral.checkpoint() end,
        ["corral.scope"] = function() corral.scope(print) end,
      }
      for name, call in pairs(calls) do
        assert.equal(name .. ": " .. GENERATOR, message(coroutine.wrap(call)))
      end
      corral.group(function(g)
        local t = g:spawn(corral.sleep, 1)
        assert.equal("task:wait: " .. GENERATOR, message(coroutine.wrap(function() t:wait() end)))
        assert.equal("group:start: " .. GENERATOR,
          message(coroutine.wrap(function() g:start(function(ready) ready() end) end)))
        assert.equal("group:wait_stopping: " .. GENERATOR,
          message(coroutine.wrap(function() g:wait_stopping() end)))
      end)
    end)
  end)

  it("4. a typo in an option's name", function()
    vrun(function()
      assert.equal("bad argument #2 to 'scope' (unknown option 'timout')",
        message(function() corral.scope(print, { timout = 1 }) end))
    end)
  end)

  it("5. a negative or NaN sleep", function()
    vrun(function()
      assert.equal("bad argument #1 to 'sleep' (seconds must be >= 0 and not NaN)",
        message(function() corral.sleep(-1) end))
      assert.equal("bad argument #1 to 'sleep' (seconds must be >= 0 and not NaN)",
        message(function() corral.sleep(0 / 0) end))
    end)
  end)

  it("6. sending nil on a channel", function()
    vrun(function()
      local ch = corral.channel(1)
      assert.equal("bad argument #1 to 'send' (cannot send nil)", message(function() ch:send(nil) end))
    end)
  end)

  it("7. releasing a lock that is not held, or held by another task", function()
    vrun(function()
      local lock = corral.lock()
      assert.equal("lock:release: the lock is not held", message(function() lock:release() end))
      corral.group(function(g)
        lock:acquire()
        g:spawn(function()
          assert.equal("lock:release: the lock is held by another task (only its holder may release it)",
            message(function() lock:release() end))
        end)
        corral.sleep(1)
        lock:release()
      end)
    end)
  end)

  it("8. spawning into a group that has exited, or is stopping", function()
    vrun(function()
      local kept
      corral.group(function(g) kept = g end)
      assert.equal("group:spawn: the group is closed (it has exited: spawn into a group that is still running)",
        message(function() kept:spawn(print) end))
      assert.equal("group:start: the group is closed (it has exited: spawn into a group that is still running)",
        message(function() kept:start(print) end))
      corral.group(function(g)
        g:stop()
        assert.equal("group:spawn: the group is stopping (g:stop was called: it starts no new task)",
          message(function() g:spawn(print) end))
      end)
    end)
  end)

  it("9. calling ready twice", function()
    vrun(function()
      local second
      corral.group(function(g)
        g:start(function(ready)
          ready(1)
          second = message(ready, 2)
        end)
      end)
      assert.equal("ready: called twice (the value of g:start can be given only once)", second)
    end)
  end)

  it("10. a task waiting for itself", function()
    vrun(function()
      local me = corral.current_task()
      assert.equal("task:wait: a task cannot wait for itself", message(function() me:wait() end))
    end)
  end)
end)

describe("other mistakes", function()
  it("corral.run inside a run, sending on a closed channel, start without ready", function()
    vrun(function()
      assert.equal("corral.run: cannot be called inside a running task (spawn a task or open a group instead)",
        message(corral.run, print))
      local ch = corral.channel(1)
      ch:close()
      assert.equal("channel:send: the channel is closed", message(function() ch:send(1) end))
      corral.group(function(g)
        assert.equal("group:start: the task finished without calling ready",
          message(function() g:start(function() end) end))
      end)
    end)
  end)

  it("a method called through pcall is named by its type, not '?'", function()
    vrun(function()
      corral.group(function(g)
        local ok, err = pcall(g.spawn, g, 5)
        assert.is_false(ok)
        assert.equal("bad argument #2 to 'corral.Group.spawn' (function expected, got number)", err)
        ok, err = pcall(g.cancel, 5)
        assert.is_false(ok)
        assert.matches("to 'corral.Group.cancel' (corral.Group expected, got number)", err, 1, true)
        local ch = corral.channel(1)
        ok, err = pcall(ch.send, ch, nil)
        assert.is_false(ok)
        assert.matches("to 'corral.Channel.send'", err, 1, true)
      end)
    end)
    assert.equal(corral.channel(1).send, package.loaded["corral.Channel"].send)
    package.loaded["corral.Channel"] = nil     -- loaded again: named again
    package.loaded.corral = nil
    assert.equal(corral, require("corral"))
    assert.equal(corral.channel(1).send, package.loaded["corral.Channel"].send)
  end)

  it("writing a field that is not writable names the object", function()
    vrun(function()
      corral.scope(function(s)
        assert.equal("cannot set field 'timeout' of a scope (only deadline and shield are writable)",
          message(function() s.timeout = 1 end))
        assert.equal("scope.shield must be a boolean, got number", message(function() s.shield = 1 end))
      end)
      corral.group(function(g)
        assert.equal("group.deadline must be a number, got string", message(function() g.deadline = "soon" end))
        assert.equal("group.deadline must be a number and not NaN", message(function() g.deadline = 0 / 0 end))
      end)
    end)
  end)

  it("a second reader of a stream is told so", function()
    vrun(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local s <close> = l:accept()
      corral.group(function(g)
        g:spawn(function() c:read() end)
        testing.wait_all_tasks_blocked()
        assert.equal("stream:read: another task is already reading this stream (one reader at a time)",
          message(function() c:read() end))
        s:write("x")
      end)
    end)
  end)

  it("no message shows a C enum name", function()
    vrun(function()
      local ch = corral.channel()
      local errs = {}
      corral.group(function(g)
        g:spawn(function() errs[#errs + 1] = support.raises(ch.send, ch, 1) end)
        testing.wait_all_tasks_blocked()
        ch:close()
      end)
      local p = corral.exec("/bin/sleep", { "10" })
      corral.group(function(g)
        g:spawn(function() errs[#errs + 1] = support.raises(p.wait, p) end)
        testing.wait_all_tasks_blocked()
        p:close()
      end)
      assert.equal(2, #errs)
      assert.equal("ECLOSED", errs[2].code)
      for _, e in ipairs(errs) do
        assert.is_nil(tostring(e):find("CR_", 1, true), tostring(e))
      end
    end)
  end)
end)
