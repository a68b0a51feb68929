-- Output still buffered when the command ended (stdout into a pipe is fully
-- buffered) went to a reader that had gone: the final flush failed with
-- EPIPE (the command keeps SIGPIPE caught) and the command exited 0, or
-- with os.exit's code, the output silently lost, where lua dies of SIGPIPE
-- (141). And a command that died of SIGPIPE while tracing left an empty
-- trace file.
local converse = require "converse"
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local script = converse.tmpfile             -- a script's text -> its path

local function sh(cmd)
  local p = assert(io.popen(("bash -c '%s'"):format(cmd)))
  local out = p:read("a")
  p:close()
  return out
end

local function status_of(code, reader, opts, before)
  local path = script(code)
  local out = sh(("%s %s %s %s | %s; echo \"${PIPESTATUS[0]}\""):format(before or "", BIN,
    opts or "", path, reader))
  os.remove(path)
  return tonumber(out:match("(%d+)%s*$"))
end

local function json_ok(path)
  local f = io.open(path)
  local text = f and f:read("a") or ""
  if f then f:close() end
  os.remove(path)
  return text:find('"traceEvents"', 1, true) ~= nil and text:find("}%s*$") ~= nil
end

describe("regression: buffered output and a reader gone before the command ends", function()
  it("dies of SIGPIPE at the final flush, as lua does", function()
    -- `true` exits at once; the sleep makes sure it is gone before the flush
    assert.equal(141, status_of("require('corral').sleep(0.2) io.write('x\\n')", "true"))
    assert.equal(141, status_of("require('corral').sleep(0.2) io.write('x') os.exit(3)", "true"))
    assert.equal(0, status_of("io.write('x')", "cat >/dev/null"))
  end)

  -- (found verifying the above) an io.popen pipe, closed or flushed at exit,
  -- into a reader that has gone: lua dies of SIGPIPE there too
  it("dies of SIGPIPE at an io.popen pipe's close and final flush, as lua does", function()
    assert.equal(141, status_of("local f = io.popen('exit 0', 'w') os.execute('sleep 0.2') " ..
      "f:write('x\\n') f:close() os.exit(3)", "cat >/dev/null"))
    assert.equal(141, status_of("io.output(io.popen('exit 0', 'w')) os.execute('sleep 0.2') " ..
      "io.write('x\\n')", "cat >/dev/null"))
  end)

  -- (found verifying the above) a finalizer that printed into the gone reader
  -- while the trace was being written ended the process with the file empty,
  -- and with SIGPIPE blocked the trace was finished in the middle of an
  -- event (a crash) where lua just gets EPIPE and goes on
  it("writes the whole trace when finalizers print meanwhile, and ignores a blocked SIGPIPE", function()
    local trace = os.tmpname()
    local path = script([[
      local corral = require "corral"
      os.execute("sleep 0.2")
      corral.group(function(g)
        for i = 1, 2000 do g:spawn({ function() corral.sleep(0) end, name = "kid" .. i }) end
      end)
      local keep = {}
      for i = 1, 20000 do keep[i] = setmetatable({}, { __gc = function() print("gc", i) end }) end
    ]])
    local out = sh(("%s --trace %s %s | true; echo \"${PIPESTATUS[0]}\""):format(BIN, trace, path))
    assert.equal(141, tonumber(out:match("(%d+)%s*$")))
    assert.is_true(json_ok(trace), "the trace was left unfinished")
    local blocked = script([[
      local corral = require "corral"
      local mt = { __gc = function() print("finalizer") end }
      for i = 1, 300 do
        setmetatable({}, mt)
        for j = 1, (i % 37) * 10 do local _ = { j } end
        corral.group(function(g)
          g:spawn(function() corral.sleep(1) end)
          corral.sleep(0)
          g:cancel(("r"):rep(100000))
        end)
      end
      print("end")
    ]])
    out = sh(("python3 -c \"import os, sys, signal; " ..
      "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE}); r, w = os.pipe(); " ..
      "os.close(r); os.dup2(w, 1); os.execv(sys.argv[1], sys.argv[1:])\" %s --trace %s %s; echo $?")
      :format(BIN, trace, blocked))
    os.remove(path)
    os.remove(blocked)
    assert.equal(0, tonumber(out:match("(%d+)%s*$")))
    assert.is_true(json_ok(trace))
  end)

  -- (found verifying the above) the check of close took an io.popen child's
  -- exit status 32 (nil, "exit", 32) for EPIPE and killed the command; and
  -- with SIGPIPE ignored at start, a write into a gone reader killed it too,
  -- where lua gets EPIPE and goes on
  it("leaves a popen child's exit status 32 alone, and an ignored SIGPIPE ignored", function()
    local path = script("local f = io.popen('exit 32') print(f:close()) print('after')")
    local out = sh(("%s %s; echo \"status=$?\""):format(BIN, path))
    os.remove(path)
    assert.matches("nil\texit\t32\nafter\nstatus=0", out)
    assert.equal(0, status_of("os.execute('sleep 0.2') print('x') print('y')",
      "true", nil, "trap \"\" PIPE;"))
  end)

  it("writes the trace before it dies of SIGPIPE", function()
    local trace = os.tmpname()
    assert.equal(141, status_of("for i = 1, 1e7 do print(i) end", "head -1 >/dev/null",
      "--trace " .. trace))
    local f = assert(io.open(trace))
    local text = f:read("a")
    f:close()
    os.remove(trace)
    assert.truthy(text:find('"traceEvents"', 1, true), "an empty trace")
  end)
end)
