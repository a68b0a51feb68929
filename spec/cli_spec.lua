-- spec/cli_spec.lua: the `corral` command (docs/api.md): `corral script.lua args…`
-- runs the chunk as the root task on the real clock with signals on. Exit 0 on
-- success, 1 on error (an ErrorGroup rendered with task names on stderr), 130/143
-- on SIGINT/SIGTERM after every cleanup ran.
--
-- CORRAL_BIN names the executable under test. The first signal specs have the
-- scripts signal themselves (their pid from /proc/self/stat, `kill` run through
-- io.popen from inside a task); the Ctrl-C rules are pinned by sending signals to a
-- child `corral` when it prints a line saying it is ready (spec/converse.lua).

local corral = require "corral"
local converse = require "converse"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"    -- plain `busted` from the root

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

--- Run `corral <script> args…` and return {code =, stdout =, stderr =}.
local function corral_cli(script, ...)
  assert(BIN, "set CORRAL_BIN to the path of the corral executable")
  local script_path, out_path, err_path = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(script_path, "w"))
  f:write(script)
  f:close()
  local words = { shell_quote(BIN), shell_quote(script_path) }
  for i = 1, select("#", ...) do words[#words + 1] = shell_quote((select(i, ...))) end
  local cmd = ("%s >%s 2>%s; echo \"exit=$?\""):format(
    table.concat(words, " "), shell_quote(out_path), shell_quote(err_path))
  local p = assert(io.popen(cmd))
  local status = p:read("a")
  p:close()
  local result = {
    code = tonumber(status:match("exit=(%d+)")),
    stdout = slurp(out_path),
    stderr = slurp(err_path),
  }
  os.remove(script_path)
  os.remove(out_path)
  os.remove(err_path)
  return result
end

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- The script for the signal specs: three workers and the root hold `<close>`
-- resources, a fourth cleans up in a shielded scope that blocks for 10 ms, and a
-- last task sends the signal once all the others are blocked forever.
local SIGNAL_SCRIPT = [[
local corral = require "corral"
io.stdout:setvbuf("no")

local function resource(name)
  return setmetatable({}, { __close = function() io.write("cleanup ", name, "\n") end })
end

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

local _ <close> = resource("root")
corral.group(function(g)
  for i = 1, 3 do
    g:spawn({ function()
      local _ <close> = resource("worker " .. i)
      corral.sleep(math.huge)
    end, name = "worker-" .. i })
  end
  g:spawn(function()
    local ok, e = pcall(corral.sleep, math.huge)
    corral.scope(function()
      corral.sleep(0.01)
      io.write("cleanup shielded\n")
    end, { shield = true })
    error(e, 0)
  end)
  g:spawn(function()
    io.write("sending SIG%s\n")
    io.popen("kill -%s " .. self_pid()):close()
    corral.sleep(math.huge)
  end)
end)
io.write("unreached\n")
]]

describe("the corral command", function()
  it("exits 0 when the script returns, passing its arguments as ...", function()
    local r = corral_cli([[
      local corral = require "corral"
      local args = table.pack(...)
      corral.group(function(g)
        g:spawn(function() corral.sleep(0); io.write("child ran\n") end)
      end)
      io.write(args.n, "|", table.concat(args, "|"), "\n")
    ]], "one", "two words", "")
    assert.equal(0, r.code)
    assert.equal("child ran\n3|one|two words|\n", r.stdout)
    assert.equal("", r.stderr)
  end)

  it("exits 1 and prints the error on stderr when the script raises", function()
    local r = corral_cli([[
      io.write("before\n")
      error("kaboom")
    ]])
    assert.equal(1, r.code)
    assert.equal("before\n", r.stdout)
    assert.is_truthy(r.stderr:find("kaboom", 1, true), r.stderr)
  end)

  it("reports a program every task of which is blocked for good as a deadlock at once, with the tree", function()
    -- the SIGINT and SIGTERM watchers could only cancel the root: they do
    -- not hold a deadlocked run open until Ctrl-C (api.md, Ctrl-C)
    local r = corral_cli([[
      local corral = require "corral"
      local q = corral.channel()
      corral.group(function(g)
        g:spawn({ function() q:recv() end, name = "consumer" })
      end, { name = "pool" })
    ]])
    assert.equal(1, r.code, r.stderr)
    assert.matches("deadlock: every task was blocked and nothing could wake them", r.stderr, 1, true)
    assert.matches("task consumer #%d+ waiting on channel recv", r.stderr)
  end)

  it("on Ctrl-C of a program that was only waiting, shows no tree", function()
    local r = converse.run({ converse.BIN, converse.tmpfile([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      print("ready")
      corral.sleep(3600)
    ]]) }, { { expect = "ready", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)

  it("on Ctrl-C of a program sleeping with no deadline (math.huge), shows no tree: it waited for the signal", function()
    -- the serve-until-Ctrl-C idiom; a child blocked on a channel beside it
    -- does not turn the wait into a deadlock either
    local r = converse.run({ converse.BIN, converse.tmpfile([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.group(function(g)
        g:spawn(function() corral.channel():recv() end)
        corral.sleep(0)
        print("ready")
        corral.sleep(math.huge)
      end)
    ]]) }, { { expect = "ready", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)

  it("reports a program its own cancel cannot end (a shielded wait) as a deadlock, and exits", function()
    -- the stop-signal watchers do not hold the stuck run open: the deadlock
    -- is found, its cancel cannot end the shielded wait, and the run ends
    local r = converse.run({ converse.BIN, converse.tmpfile([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.group(function(g)
        g:spawn(function() corral.scope(function() corral.event():wait() end, { shield = true }) end)
        corral.sleep(0.01)
        print("ready")
        g:cancel()
      end)
    ]]) }, {})
    assert.equal(1, r.code, r.stderr)
    assert.matches("deadlock: every task is blocked and nothing can wake them (even after cancelling)",
                   r.stderr, 1, true)
    assert.matches("task task%-3 #%d+ waiting on event", r.stderr)
  end)

  it("a <close> handler's error with __tostring replaces the root's error without the old traceback", function()
    local r = corral_cli([[
      local function fails() error("ORIGINAL error") end
      local mt = { __tostring = function() return "raised by the close handler" end }
      do
        local _ <close> = setmetatable({}, { __close = function() error(setmetatable({}, mt)) end })
        fails()
      end
    ]])
    assert.equal(1, r.code)
    assert.equal("corral: raised by the close handler\n", r.stderr)
  end)

  it("exits 1 and renders an ErrorGroup on stderr with task names, errors and tracebacks", function()
    local r = corral_cli([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn({ function() error("alpha broke") end, name = "alpha-task" })
        g:spawn({ function() corral.sleep(0); error("beta broke") end, name = "beta-task" })
      end, { defer_errors = true })
    ]])
    assert.equal(1, r.code)
    for _, needle in ipairs({ "alpha-task", "alpha broke", "beta-task", "beta broke", "traceback" }) do
      assert.is_truthy(r.stderr:find(needle, 1, true), ("%q missing from stderr:\n%s"):format(needle, r.stderr))
    end
  end)

  for _, case in ipairs({ { sig = "INT", code = 130 }, { sig = "TERM", code = 143 } }) do
    it(("on SIG%s cancels the root, runs every cleanup, and exits %d"):format(case.sig, case.code), function()
      local r = corral_cli(SIGNAL_SCRIPT:format(case.sig, case.sig))
      assert.equal(case.code, r.code)
      local out = lines(r.stdout)
      assert.equal("sending SIG" .. case.sig, out[1])
      assert.same({
        "cleanup root", "cleanup shielded", "cleanup worker 1", "cleanup worker 2", "cleanup worker 3",
      }, (function()
        local rest = table.move(out, 2, #out, 1, {})
        table.sort(rest)
        return rest
      end)())
      -- The root waits for its children, so its own cleanup comes last.
      assert.equal("cleanup root", out[#out])
    end)
  end

  it("runs the same under every CORRAL_MALLOC (arena with its page helper, arena, huge, system)", function()
    -- a burst of spawns that grows the arena by megabytes, a child process
    -- (forked beside the helper thread), then freed blocks reused
    local script = [[
      local corral = require "corral"
      local f = io.open("/proc/self/status")
      local threads = f and f:read("a"):match("Threads:%s*(%d+)") or "?"
      if f then f:close() end
      local n = 0
      for round = 1, 2 do
        corral.group(function(g)
          for i = 1, 20000 do g:spawn(function() corral.checkpoint(); n = n + 1 end) end
        end)
      end
      local p = corral.exec("/bin/echo", { "child" })
      local out = p.stdout:read_line()
      assert(p:wait() == 0)
      print(n, out, threads)
    ]]
    -- the main thread, the C library's timer thread (the check a quick third
    -- Ctrl-C arms), and the arena's page helper where there is one
    local threads = { [""] = "3", arena = "2", huge = "3", system = "2" }
    if (os.getenv("LD_PRELOAD") or ""):find("asan") then
      threads[""], threads.huge = "2", "2"     -- ASan builds keep malloc
    end
    for _, mode in ipairs({ "", "arena", "huge", "system" }) do
      local r = converse.run({ "/usr/bin/env", "CORRAL_MALLOC=" .. mode, BIN, "-e", script })
      assert.equal(0, r.code, mode .. ": " .. r.stderr)
      assert.equal("40000\tchild\t" .. threads[mode] .. "\n", r.stdout, mode)
    end
  end)

  it("is a self-contained binary: it runs with no corral.so or Lua path around", function()
    local r = converse.run({ "/usr/bin/env", "-i", BIN, "-e",
      "print(require('corral')._VERSION, require('corral.cli') ~= nil)" })
    assert.equal(0, r.code)
    assert.equal("0.26.4\ttrue\n", r.stdout)
  end)
end)

-- The Ctrl-C rules (docs/api.md, "Ctrl-C"): a signal some task waits for
-- wakes it and cancels nothing; one nobody waits for cancels the root; one more
-- while the root unwinds kills the process with the signal's default action.
local GRACEFUL = [[
local corral = require "corral"
io.stdout:setvbuf("no")
local stubborn = (...) == "stubborn"
corral.group(function(g)
  g:spawn(function()                    -- a worker that winds down when stopped
    g:wait_stopping()
    print("worker: finishing")
    local ok, e = pcall(corral.sleep, stubborn and 3600 or 0)
    local _ <close> = setmetatable({}, { __close = function() print("worker: cleanup") end })
    if not ok then
      print("worker: " .. tostring(e))
      corral.scope(function()           -- a cleanup that blocks, shielded
        print("unwinding")
        corral.sleep(3600)
      end, { shield = true })
      error(e, 0)
    end
  end)
  print("ready")
  print("got " .. corral.signal("SIGINT"))
  print("stopping")
  g:stop(3600)
end)
print("stopped gracefully")
]]

describe("Ctrl-C under the corral command", function()
  it("a SIGINT that a task waits for wakes it and cancels nothing: g:stop(grace) on Ctrl-C", function()
    local r = converse.corral(GRACEFUL, { { expect = "ready", send = "SIGINT" } })
    assert.equal(0, r.code, r.stderr)
    assert.is_nil(r.signal)
    assert.same({ "ready", "got SIGINT", "stopping", "worker: finishing", "worker: cleanup",
                  "stopped gracefully" }, converse.lines(r.stdout))
    assert.equal("", r.stderr)
  end)

  it("a second SIGINT while the first is handled (nobody waits any more) cancels the root: exit 130", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      local _ <close> = setmetatable({}, { __close = function(_, e) print("root cleanup: " .. tostring(e)) end })
      corral.group(function(g)
        g:spawn(function()
          g:wait_stopping()
          print("stopping")
          corral.sleep(3600)             -- does not finish within the grace
        end)
        print("ready")
        corral.signal("SIGINT")
        g:stop(3600)
      end)
      print("unreached")
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "stopping", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    assert.same({ "ready", "stopping", "root cleanup: Cancelled: SIGINT (source=signal)" },
                converse.lines(r.stdout))
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)

  it("one more SIGINT while the root unwinds kills the process with SIGINT's default action", function()
    local r = converse.corral(GRACEFUL, {
      { expect = "ready", send = "SIGINT" },
      { expect = "worker: finishing", send = "SIGINT" },
      { expect = "unwinding", send = "SIGINT" },
    }, "stubborn")
    assert.equal(3, r.reached)
    assert.equal("SIGINT", r.signal)
    assert.same({ "ready", "got SIGINT", "stopping", "worker: finishing",
                  "worker: Cancelled: SIGINT (source=signal)", "unwinding" }, converse.lines(r.stdout))
  end)

  it("SIGTERM while only SIGINT is waited for cancels the root, and a second SIGTERM kills", function()
    local r = converse.corral(GRACEFUL, {
      { expect = "ready", send = "SIGINT" },
      { expect = "worker: finishing", send = "SIGTERM" },
      { expect = "unwinding", send = "SIGTERM" },
    }, "stubborn")
    assert.equal("SIGTERM", r.signal)
    assert.truthy(r.stdout:find("worker: Cancelled: SIGTERM (source=signal)", 1, true), r.stdout)
  end)

  for _, case in ipairs({ { sig = "SIGINT", code = 130 }, { sig = "SIGTERM", code = 143 } }) do
    it(("exits %d after %s even when the script swallowed the Cancelled"):format(case.code, case.sig), function()
      local r = converse.corral([[
        local corral = require "corral"
        io.stdout:setvbuf("no")
        print("ready")
        local ok, e = pcall(corral.sleep, 3600)
        print("swallowed " .. tostring(e))
      ]], { { expect = "ready", send = case.sig } })
      assert.equal(case.code, r.code, r.stderr)
      assert.same({ "ready", ("swallowed Cancelled: %s (source=signal)"):format(case.sig) },
                  converse.lines(r.stdout))
      assert.equal(("corral: interrupted by %s\n"):format(case.sig), r.stderr)
    end)
  end

  it("a script that handles SIGTERM itself exits with its own status", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      print("ready")
      print("got " .. corral.signal("TERM"))
      os.exit(3)
    ]], { { expect = "ready", send = "SIGTERM" } })
    assert.equal(3, r.code)
    assert.equal("ready\ngot SIGTERM\n", r.stdout)
  end)

  it("an error raised while the root unwinds wins over the signal: printed, exit 1", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      print("ready")
      pcall(corral.sleep, 3600)
      error("cleanup failed")
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("cleanup failed", 1, true), r.stderr)
  end)

  -- valgrind keeps the top real-time signals for itself: under it, sending
  -- SIGRTMIN+n from the program fails with EINVAL (checked in every other build)
  local it_rt = os.getenv("VALGRIND") and pending or it
  it_rt("waits on several signals by name and number, and SIGRTMIN+n forms", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      for _, s in ipairs({ "SIGHUP", "USR2", "SIGRTMIN+1", "RTMAX", "SIGWINCH" }) do
        corral.group(function(g)
          g:spawn(function() print("got " .. corral.signal(s)) end)
          g:spawn(function() corral.sleep(0); print("ready " .. s) end)
        end)
      end
    ]], {
      { expect = "ready SIGHUP", send = "SIGHUP" },
      { expect = "ready USR2", send = "SIGUSR2" },
      { expect = "ready SIGRTMIN+1", send = "RTMIN+1" },
      { expect = "ready RTMAX", send = "SIGRTMAX" },
      { expect = "ready SIGWINCH", send = "WINCH" },
    })
    assert.equal(0, r.code, r.stderr)
    assert.same({ "ready SIGHUP", "got SIGHUP", "ready USR2", "got SIGUSR2", "ready SIGRTMIN+1",
                  "got SIGRTMIN+1", "ready RTMAX", "got SIGRTMAX", "ready SIGWINCH", "got SIGWINCH" },
                converse.lines(r.stdout))
  end)
end)

-- lua's own interpreter catches SIGINT with a hook on its main thread, which
-- runs no Lua code while corral.run drives the tasks: Ctrl-C did nothing
-- until the run ended. A run without signals = true now hears it too.
describe("Ctrl-C under stock lua5.4, corral.run without signals", function()
  local SERVER = [[
    local corral = require "corral"
    io.stdout:setvbuf("no")
    local ok, e = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function(_, err)
            print("cleanup: " .. tostring(err))
            if corral.is_cancelled(err) then corral.sleep(0) end
          end })
          print("ready")
          corral.sleep(3600)
        end)
      end)
    end)
    print("run: " .. tostring(ok) .. " " .. tostring(e))
    print("after")
    while true do end                  -- lua's own Ctrl-C is back for this
  ]]

  it("cancels the run: every cleanup runs, run raises the SIGINT's Cancelled, and lua's handler is back", function()
    local r = converse.lua(SERVER, { { expect = "ready", send = "SIGINT" },
                                   { expect = "after", send = "SIGINT" } })
    assert.same({ "ready", "cleanup: Cancelled: SIGINT (source=signal)",
                  "run: false Cancelled: SIGINT (source=signal)", "after" },
                converse.lines(r.stdout))
    assert.equal(1, r.code)                 -- lua's "interrupted!"
    assert.truthy(r.stderr:find("interrupted!", 1, true), r.stderr)
  end)

  it("is heard while the tasks only loop on checkpoint (the loop polled nothing)", function()
    local r = converse.lua([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      print(select(2, pcall(corral.run, function()
        corral.group(function(g)
          g:spawn(corral.sleep, 3600)
          print("ready")
          while true do corral.checkpoint() end
        end)
      end)))
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.equal(0, r.code, r.stderr)
    assert.same({ "ready", "Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
  end)

  it("still cancels the run after a task waited for SIGINT (libuv had put the default action back)", function()
    local r = converse.lua([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      print(select(2, pcall(corral.run, function()
        corral.group(function(g)
          g:spawn(corral.signal, "SIGINT")     -- the program's own, this one
          g:spawn(print, "waiting")            -- once the waiter is parked
        end)
        local _ <close> = setmetatable({}, { __close = function() print("cleanup") end })
        print("ready")
        corral.sleep(3600)
      end)))
    ]], { { expect = "waiting", send = "SIGINT" }, { expect = "ready", send = "SIGINT" } })
    assert.equal(0, r.code, r.stderr)
    assert.same({ "waiting", "ready", "cleanup", "Cancelled: SIGINT (source=signal)" },
                converse.lines(r.stdout))
  end)

  it("one more SIGINT while the run unwinds kills the process, as in lua", function()
    local r = converse.lua([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.run(function()
        local _ <close> = setmetatable({}, { __close = function()
          print("unwinding")
          corral.scope(function() corral.sleep(3600) end, { shield = true })
        end })
        print("ready")
        corral.sleep(3600)
      end)
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "unwinding", send = "SIGINT" } })
    assert.equal("SIGINT", r.signal)
    assert.same({ "ready", "unwinding" }, converse.lines(r.stdout))
  end)
end)

describe("the corral command's options, as lua's", function()
  local function cli(args, stdin)
    return converse.run({ BIN, table.unpack(args) }, nil, stdin)
  end

  it("--help and -h print the usage on stdout and exit 0", function()
    for _, flag in ipairs({ "--help", "-h" }) do
      local r = cli({ flag })
      assert.equal(0, r.code)
      assert.truthy(r.stdout:find("^usage: corral %[options%] %[script %[args%]%]"), r.stdout)
      for _, opt in ipairs({ "-e stat", "-l mod", "-l g=mod", "--version", "--help", "-W", "-E", "--  ", "-  " }) do
        assert.truthy(r.stdout:find(opt, 1, true), opt)
      end
      assert.equal("", r.stderr)
    end
  end)

  it("--version and -v print the version (the project's, from CMake) and exit 0", function()
    for _, flag in ipairs({ "--version", "-v" }) do
      local r = cli({ flag })
      assert.equal(0, r.code)
      assert.truthy(r.stdout:find("^corral 0%.26%.4 %(Lua 5%.4[%.%d]*, libuv [%d%.]+%)\n$"), r.stdout)
    end
  end)

  it("-e runs code and -l requires modules, in order, in the root task; -l g=mod names the global", function()
    local r = cli({ "-l", "corral", "-e", "corral.sleep(0); x = 1", "-lc=corral",
                    "-eprint(x, c == corral, corral.current_task() ~= nil)" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("1\ttrue\ttrue\n", r.stdout)
  end)

  it("sets arg as lua does and passes the script its arguments as ...", function()
    local path = converse.tmpfile("print(arg[-4], arg[-3], arg[-2], arg[-1], arg[0], ...)")
    local r = cli({ "-e", "x=1", "--", path, "a", "-e" })
    os.remove(path)
    assert.equal(0, r.code, r.stderr)
    assert.equal(table.concat({ BIN, "-e", "x=1", "--", path, "a", "-e" }, "\t") .. "\n", r.stdout)
  end)

  it("- runs the script from stdin, with arguments", function()
    local r = cli({ "-", "one", "two" }, "print('stdin', arg[0], ...)")
    assert.equal(0, r.code, r.stderr)
    assert.equal("stdin\t-\tone\ttwo\n", r.stdout)
  end)

  it("with no script and no -e, reads the script from stdin when it is not a terminal", function()
    local r = cli({}, "local corral = require 'corral'; corral.sleep(0); print('from stdin')")
    assert.equal(0, r.code, r.stderr)
    assert.equal("from stdin\n", r.stdout)
  end)

  it("-- with no script reads stdin too, with arg as lua makes it (regression)", function()
    -- It read a file named "-", since "-- -" names one.
    local code = "print(arg[0] == arg[-1] or arg[0], #arg, arg[1], select('#', ...))"
    local r = cli({ "--" }, code)
    assert.equal(0, r.code)
    assert.matches("^%S+\t1\t%-%-\t0\n$", r.stdout)
    r = cli({}, code)
    assert.equal(0, r.code)
    assert.matches("^%S+\t0\tnil\t0\n$", r.stdout)
  end)

  it("an unknown option or a missing argument prints the usage on stderr and exits 2", function()
    for _, case in ipairs({ { { "--frobnicate" }, "unrecognized option '--frobnicate'" },
                            { { "-x", "script.lua" }, "unrecognized option '-x'" },
                            { { "-i" }, "unrecognized option '-i'" },
                            { { "-e" }, "'-e' needs an argument" },
                            { { "-l" }, "'-l' needs an argument" },
                            -- as lua: a next word that is an option is not the value
                            { { "-l", "-e", "print(1)" }, "'-l' needs an argument" },
                            { { "-e", "-v" }, "'-e' needs an argument" },
                            { { "-e", "-- a comment" }, "'-e' needs an argument" },
                            { { "--trace", "-", "script.lua" }, "'--trace' needs an argument" } }) do
      local r = cli(case[1])
      assert.equal(2, r.code)
      assert.equal("", r.stdout)
      assert.truthy(r.stderr:find("corral: " .. case[2], 1, true), r.stderr)
      assert.truthy(r.stderr:find("usage: corral", 1, true), r.stderr)
    end
  end)

  it("a script that cannot be loaded exits 1 without running anything", function()
    local r = cli({ "-e", "print('ran')", "/nonexistent/script.lua" })
    assert.equal(1, r.code)
    assert.equal("", r.stdout)
    assert.truthy(r.stderr:find("corral: cannot open /nonexistent/script.lua", 1, true), r.stderr)
    r = cli({ "-e", "x = = 1" })
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("(command line):1:", 1, true), r.stderr)
  end)

  it("-W turns warnings on; LUA_INIT runs first unless -E", function()
    local r = converse.run({ "/usr/bin/env", "LUA_INIT=print('init')", BIN, "-W", "-e", "warn('careful')" })
    assert.equal(0, r.code)
    assert.equal("init\n", r.stdout)
    assert.truthy(r.stderr:find("careful", 1, true), r.stderr)
    r = converse.run({ "/usr/bin/env", "LUA_INIT=print('init')", BIN, "-E", "-e", "print('no init')" })
    assert.equal("no init\n", r.stdout)
  end)
end)
