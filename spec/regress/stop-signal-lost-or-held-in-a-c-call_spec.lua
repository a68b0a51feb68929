-- Three ways the `corral` command mishandled SIGINT/SIGTERM:
-- * One that came while the root was in a C call (a pipe's read), after
--   which the root returned without a cancellation point, was never
--   delivered: the run ended before the loop turned, and the command
--   exited 0. A SIGTERM from a process manager read as a success. run now
--   delivers what came before it returns, and raises it.
-- * A task busy in Lua code called from C (a gsub callback, a sort's
--   comparator) could not give up the CPU for the loop to deliver the
--   signal: the first Ctrl-C did nothing and `timeout` could not stop it.
--   The signal is delivered where the task is, and the Cancelled raised
--   there goes up through the C call.
-- * Two arrivals in one burst, before the loop saw the first, killed the
--   process before any cleanup: the second was taken for "one more during
--   the unwinding". Arrivals before any task ran again are one.
local converse = require "converse"

describe("regression: a stop signal and the command", function()
  it("is not lost when the root ends without a cancellation point after it", function()
    local r = converse.corral([[
      print("ready")
      io.stdout:flush()
      local p = io.popen("sleep 1")      -- a C call: the signal comes meanwhile
      p:read("a")
      p:close()
      print("returning")
    ]], { { expect = "ready", send = "SIGTERM" } })
    assert.same({ "ready", "returning" }, converse.lines(r.stdout))
    assert.equal(143, r.code)
    assert.equal("corral: interrupted by SIGTERM\n", r.stderr)
  end)

  it("is not lost under lua5.4 either: run raises it", function()
    local r = converse.lua([[
      local corral = require "corral"
      print(pcall(corral.run, function()
        print("ready")
        io.stdout:flush()
        local p = io.popen("sleep 1")
        p:read("a")
        p:close()
      end))
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.same({ "ready", "false\tCancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
  end)

  it("interrupts a task busy inside a C call", function()
    local r = converse.corral([[
      local _ <close> = setmetatable({}, { __close = function(_, e)
        print("cleanup: " .. tostring(e))
      end })
      print("ready")
      io.stdout:flush()
      string.gsub("x", ".", function() while true do end end)
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.same({ "ready", "cleanup: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
    assert.equal(130, r.code)
  end)

  it("still kills at the next arrival while a shielded cleanup blocks", function()
    local r = converse.corral([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            print("child unwound")
            io.stdout:flush()
          end })
          corral.sleep(30)
        end)
        print("ready")
        io.stdout:flush()
        corral.scope(function() corral.sleep(30) end, { shield = true })
      end)
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "child unwound", send = "SIGINT" } })
    assert.same({ "ready", "child unwound" }, converse.lines(r.stdout))
    assert.equal(130, r.code)
  end)

  it("kills at the next arrival after one delivered inside a C call", function()
    local r = converse.corral([[
      local t = {}
      for i = 1, 100 do t[i] = i end
      print("ready")
      io.stdout:flush()
      local said
      while true do                        -- swallows every Cancelled
        local ok = pcall(table.sort, t, function(a, b) while true do end end)
        if not ok and not said then said = true; print("caught"); io.stdout:flush() end
      end
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "caught", send = "SIGINT" } })
    assert.same({ "ready", "caught" }, converse.lines(r.stdout))
    assert.equal(130, r.code)
  end)

  it("delivers every arrival a task busy in a C call held: a waiter's, then the root's", function()
    local r = converse.corral([[
      local corral = require "corral"
      local pid = io.open("/proc/self/stat"):read("n")
      corral.group(function(g)
        g:spawn(function()
          corral.signal("SIGINT")
          print("waiter woke")
          io.stdout:flush()
        end)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function(_, e)
            print("busy cleanup: " .. tostring(e))
          end })
          corral.sleep(0.01)
          table.sort({ 3, 2, 1 }, function()
            io.popen("kill -INT " .. pid):close()
            io.popen("kill -INT " .. pid):close()
            while true do end
          end)
        end)
      end)
    ]], {})
    assert.same({ "busy cleanup: Cancelled: SIGINT (source=signal)", "waiter woke" },
                converse.lines(r.stdout))
    assert.equal(130, r.code)
  end)

  it("takes two arrivals held by a C call as one when they cancel the root", function()
    local r = converse.corral([[
      local pid = io.open("/proc/self/stat"):read("n")
      local first = true
      local ok, e = pcall(table.sort, { 3, 2, 1, 5, 4 }, function(a, b)
        if first then
          first = false
          io.popen("kill -INT " .. pid):close()
          io.popen("kill -INT " .. pid):close()
        end
        local x = 0
        for _ = 1, 3000000 do x = x + 1 end  -- past the hook's grace
        return a < b
      end)
      print("sort raised: " .. tostring(e))
    ]], {})
    assert.same({ "sort raised: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
    assert.equal(130, r.code)
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)

  it("wakes each signal's waiters when SIGTERM and SIGINT come in one turn", function()
    local r = converse.corral([[
      local corral = require "corral"
      local pid = io.open("/proc/self/stat"):read("n")
      corral.group(function(g)
        g:spawn(function() corral.signal("SIGTERM"); print("TERM waiter woke") end)
        g:spawn(function() corral.signal("SIGINT"); print("INT waiter woke") end)
        corral.sleep(0.01)
        io.popen("kill -TERM " .. pid .. "; kill -INT " .. pid):close()
      end)
      print("done")
    ]], {})
    local lines = converse.lines(r.stdout)
    table.sort(lines)
    assert.same({ "INT waiter woke", "TERM waiter woke", "done" }, lines)
    assert.equal(0, r.code)
  end)

  it("delivers a signal that came while the trace was written: run raises it", function()
    local path = os.tmpname()
    local r = converse.lua(([[
      local corral = require "corral"
      local pid = io.open("/proc/self/stat"):read("n")
      print(pcall(corral.run, function()
        for _ = 1, 100000 do corral.sleep(0) end   -- a long trace to write
        io.popen("sleep 0.05; kill -INT " .. pid)   -- lands while it is written
      end, { signals = true, trace = %q, trace_limit = 10000000 }))
    ]]):format(path), {})
    os.remove(path)
    assert.same({ "false\tCancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
  end)

  it("takes two arrivals in one burst as one: the cleanup runs", function()
    local r = converse.corral([[
      local _ <close> = setmetatable({}, { __close = function(_, e)
        print("cleanup: " .. tostring(e))
      end })
      local pid = io.open("/proc/self/stat"):read("n")
      local function sigint() io.popen("kill -INT " .. pid):close() end
      -- corral's debug.gethook shows a task its own hook, never the run's:
      -- the function it wraps shows that one
      local _, gethook = debug.getupvalue(debug.gethook, 1)
      sigint()
      while gethook() == nil do end        -- the run's handler has heard it
      sigint()                             -- the loop has not seen either
      print("busy")
      io.stdout:flush()
      local x = 0
      while true do x = x + 1 end
    ]], {})
    assert.same({ "busy", "cleanup: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
    assert.equal(130, r.code)
  end)
end)
