-- A timeout passed positionally to a blocking call (e:wait(5), ch:recv(5),
-- p:wait(0.1), as in Trio's or Python's APIs) was silently dropped: C
-- functions ignore arguments past their last, so the call waited for ever.
-- s:release(3) likewise added one permit, not three. The contract says a
-- bad argument raises at the call, so that a typo never drops a timeout;
-- every method with a fixed argument list now refuses anything past its
-- last parameter (a nil passed explicitly too), and a blocking one says how
-- to time it out.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

local TIMEOUT = "a timeout is corral%.move_on_after or corral%.fail_after around the call"

-- f() raises "bad argument #n to 'name' (no argument expected...", with the
-- timeout hint when `blocks`, at this file's line.
local function refused(f, n, name, blocks)
  local ok, err = pcall(f)
  assert.is_false(ok, name)
  local want = ("bad argument #%d to '%s' %%(no argument expected"):format(n, name)
  assert.matches(want, err)
  assert.matches("a%-timeout%-passed%-to%-a%-blocking%-call", err)   -- the caller's line
  if blocks then assert.matches(want .. ": " .. TIMEOUT .. "%)$", err) end
end

describe("regression: an argument past a call's last parameter", function()
  it("is refused by the blocking calls of events, locks, semaphores and channels", testing.async(function()
    local e, l, s, ch = corral.event(), corral.lock(), corral.semaphore(0), corral.channel(1)
    refused(function() e:wait(5) end, 1, "wait", true)
    refused(function() l:acquire(5) end, 1, "acquire", true)
    refused(function() s:acquire(5) end, 1, "acquire", true)
    refused(function() ch:send("v", 5) end, 2, "send", true)
    refused(function() ch:recv(5) end, 1, "recv", true)
    refused(function() ch:iter(5) end, 1, "iter", true)
    assert.equal(0, s.value)
    assert.equal(0, #ch)
  end))

  it("is refused even when it is nil, and before a cancelled call would raise", testing.async(function()
    local e = corral.event()
    refused(function() e:wait(nil) end, 1, "wait", true)
    corral.scope(function(sc)
      sc:cancel()
      refused(function() e:wait(5) end, 1, "wait", true)
    end)
  end))

  it("makes a timeout given to wait raise at once instead of waiting", testing.async(function()
    local e, t0 = corral.event(), corral.now()
    local ok = pcall(corral.move_on_after, 3600, function() e:wait(5) end)
    assert.is_false(ok)
    assert.equal(t0, corral.now())
  end))

  it("makes semaphore:release(n) say one permit per call", testing.async(function()
    local s = corral.semaphore(0)
    local ok, err = pcall(function() s:release(3) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'release' %(no argument expected: a release gives back one permit; call it once per permit%)", err)
    assert.equal(0, s.value)
    refused(function() corral.lock():release(1) end, 1, "release")
  end))

  it("is refused by the calls that never block", testing.async(function()
    local e, l, s, ch = corral.event(), corral.lock(), corral.semaphore(1), corral.channel(1)
    refused(function() e:set(true) end, 1, "set")
    refused(function() e:is_set(1) end, 1, "is_set")
    refused(function() l:try_acquire(5) end, 1, "try_acquire")
    refused(function() s:try_acquire(5) end, 1, "try_acquire")
    refused(function() ch:try_send(1, 5) end, 2, "try_send")
    refused(function() ch:try_recv(5) end, 1, "try_recv")
    refused(function() ch:close(true) end, 1, "close")
    refused(function() corral.now(1) end, 1, "now")
    refused(function() corral.current_task(1) end, 1, "current_task")
    assert.is_false(e:is_set())
    assert.equal(1, s.value)
    assert.is_false(ch.closed)
  end))

  it("is refused by time, tasks, groups and scopes", testing.async(function()
    refused(function() corral.sleep(1, 2) end, 2, "sleep")
    refused(function() corral.sleep_until(1, 2) end, 2, "sleep_until")
    refused(function() corral.checkpoint(1) end, 1, "checkpoint")
    corral.group(function(g)
      local t = g:spawn(corral.sleep, 1)
      refused(function() t:wait(5) end, 1, "wait", true)
      refused(function() t:cancel("why", 5) end, 2, "cancel")
      refused(function() t:traceback(1) end, 1, "traceback")
      refused(function() g:wait_stopping(5) end, 1, "wait_stopping", true)
      refused(function() g:stop(1, 2) end, 2, "stop")
      refused(function() g:cancel("why", 5) end, 2, "cancel")
      refused(function() g:tasks(1) end, 1, "tasks")
      corral.scope(function(sc) refused(function() sc:cancel("why", 5) end, 2, "cancel") end)
      assert.is_false(g.cancel_called)
      assert.is_false(g.stopping)
    end)
  end))

  it("is refused by TCP streams, listeners, processes, signals and resolve", testing.async(function()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    local s <close> = corral.tcp.connect("127.0.0.1", l.port)
    refused(function() l:accept(5) end, 1, "accept", true)
    refused(function() s:read(10, 5) end, 2, "read", true)
    refused(function() s:write("x", 5) end, 2, "write", true)
    refused(function() s:read_line(10, 5) end, 2, "read_line", true)
    refused(function() s:lines(10, 5) end, 2, "lines", true)
    refused(function() s:read_exactly(1, 5) end, 2, "read_exactly", true)
    refused(function() s:shutdown(1) end, 1, "shutdown")
    local p <close> = corral.exec("true", {}, { stdin = "inherit", stdout = "inherit", stderr = "inherit" })
    refused(function() p:wait(0.1) end, 1, "wait", true)
    refused(function() p:kill("SIGTERM", 1) end, 2, "kill")
    assert.equal(0, (p:wait()))
    refused(function() corral.signal("SIGUSR2", 5) end, 2, "signal", true)
    refused(function() corral.resolve("localhost", 5) end, 2, "resolve", true)
  end))

  it("is refused by corral.testing's streams and the supervisor's methods", testing.async(function()
    local a, b = testing.stream_pair()
    local _ <close> = a
    local _ <close> = b
    refused(function() a:read(10, 5) end, 2, "read", true)
    refused(function() a:write("x", 5) end, 2, "write", true)
    refused(function() a:read_line(10, 5) end, 2, "read_line", true)
    refused(function() a:read_exactly(1, 5) end, 2, "read_exactly", true)
    refused(function() a:shutdown(1) end, 1, "shutdown")
    refused(function() testing.wait_all_tasks_blocked(5) end, 1, "wait_all_tasks_blocked")
    local child = { name = "c", fn = function(c)
      refused(function() c:wait_stopping(5) end, 1, "wait_stopping", true)
      c:wait_stopping()
    end }
    supervisor.run({ children = { child } }, function(sup)
      corral.checkpoint()
      refused(function() sup:add({ name = "d", fn = function() end }, 5) end, 2, "add", true)
      refused(function() sup:restart("c", 5) end, 2, "restart", true)
      refused(function() sup:remove("c", 5) end, 2, "remove", true)
      refused(function() sup:children(1) end, 1, "children")
      refused(function() sup:stop(1, 2) end, 2, "stop")
      assert.equal(1, #sup:children())
      sup:stop()
    end)
  end))

  it("names a method called without a name by its type", testing.async(function()
    local e = corral.event()
    local ok, err = pcall(e.wait, e, 5)
    assert.is_false(ok)
    assert.matches("^bad argument #2 to 'corral%.Event%.wait' %(no argument expected: " .. TIMEOUT, err)
  end))
end)
