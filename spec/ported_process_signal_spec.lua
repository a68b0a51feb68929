-- spec/ported_process_signal_spec.lua: the subprocess and signal tests of Trio, AnyIO
-- and CPython's asyncio, ported test by test to corral.exec, the process object
-- (:wait, :kill, .pid, .stdin/.stdout/.stderr), corral.signal and the `corral`
-- command's signal exits. One `describe` per original file, one `it` per original
-- test, named after it. Sources:
--   Trio    src/trio/_tests/test_subprocess.py, src/trio/_tests/test_signals.py
--   AnyIO   tests/test_subprocesses.py, tests/test_signals.py
--   CPython Lib/test/test_asyncio/test_subprocess.py (SubprocessMixin)
--
-- Translation. Child programs are /bin/sh, cat, true, false, sleep and `lua5.4 -e`
-- (the originals run `python -c`). open_process -> corral.exec; proc.wait() /
-- returncode -> p:wait() (a signal death is 128 + n and the signal's name, where
-- Python has -n); kill/terminate/send_signal -> p:kill("KILL"/"TERM"/name);
-- send_all/aclose of stdin -> p.stdin:write / p.stdin:shutdown; receive_some(n) ->
-- read(n); repr(proc) -> tostring(p); run_process / communicate -> the `communicate`
-- helper below (feed stdin in one task, read stdout and stderr each in its own).
-- Trio's two `background_process` parameters are both run in one `it`:
-- open_process_then_kill (a `<close>` process, killed and waited after the body) and
-- run_process_in_nursery (a task owns the process, hands it out with g:start, holds
-- it open until the body is done, and the group is cancelled after the body). Each spec body runs under testing.run on
-- the real clock (children are real) inside fail_after(60), so nothing can hang and
-- no time is asserted; the /proc/self/fd list is compared before and after the body
-- and after the run, and testing.run's leak check covers tasks, scopes and handles.
-- Signals sent to this process are SIGUSR1/SIGUSR2 (Trio raises SIGILL/SIGFPE,
-- which are fault signals) and only ever while a task waits for them in
-- corral.signal (before a run's first wait a signal has its default action).
-- Trio's "signal handler restored" is read from /proc/self/status (SigCgt).
--
-- Skipped, and why:
--   Trio test_basic_no_pidfd, test_multi_wait_no_pidfd, test_wait_reapable_fails_no_pidfd:
--     pidfd is Trio's reaping mechanism; corral's is libuv's (SIGCHLD).
--     (test_subprocess_pidfd_unnotified is ported: the child exits while the loop
--     does not turn, where Trio reaps it behind its back.)
--   Trio test_wait_reapable_fails: sets SIGCHLD to SIG_IGN, which Lua cannot do and
--     libuv's child watching forbids.
--   Trio test_waitid_eintr: Trio's internal sync_wait_reapable.
--   Trio test_stderr_stdout, AnyIO test_open_process_connect_to_file,
--     test_run_process_connect_to_file, CPython test_devnull_input,
--     test_devnull_output, test_devnull_error: corral.exec's stdio is "pipe" or
--     "inherit" only (no stderr=STDOUT, no file or DEVNULL redirection).
--   Trio test_run's argument checks, test_run_process_background_fail,
--     test_warn_on_failed_cancel_terminate, test_run_process_internal_error, AnyIO test_stdin_input_both_passed,
--     test_arguments_passed_through: run_process's own options (check,
--     deliver_cancel's SIGKILL escalation, warnings) or monkeypatching; corral has no
--     run_process (closing a process is its cancellation: SIGKILL at once).
--     test_custom_deliver_cancel, test_bad_deliver_cancel and
--     test_warn_on_cancel_SIGKILL_escalation (without its warning, on the virtual
--     clock with autojump_threshold) are ported as a shielded cleanup that
--     terminates the child.
--   AnyIO test_process_new_session_sid, test_user_group_arguments, CPython
--     test_start_new_session: no start_new_session/user/group/umask options (the
--     documented way is to exec `setsid`); corral.exec refusing unknown options is
--     ported in Trio's test_errors and CPython's text-mode tests.
--   CPython test_close_dont_kill_finished: whether close() sends SIGKILL to a zombie
--     cannot be observed from Lua. test_create_subprocess_exec_with_path: Lua has no
--     path objects. test_create_subprocess_fails_with_inactive_watcher,
--     test_create_subprocess_with_pidfd: asyncio's child watchers (and a thread).
--     test_pause_reading mocks the transport; ported as reads of at most `limit`
--     bytes. test_popen_error(_with_stdin_pipe) mock Popen to fail; ported as a spawn
--     of a file that is no program. SubprocessTransportTests' two tests read
--     transport internals; ported as what they assert of a process (kill once it
--     has exited, and its repr), kill doing nothing where asyncio raises.
--   Trio test_catch_signals_wrong_thread: no threads in Lua. Trio
--     test_open_signal_receiver_conflict: in corral two waiters for one signal both
--     wake (docs/api.md), so it is ported with that assertion instead of
--     BusyResourceError. Trio test_catch_signals_race_condition_on_exit: corral drops
--     an arrival nobody waits for (docs/api.md) where Trio re-delivers it to the
--     previous handler; the parts that map (the process survives, nothing stale is
--     delivered later) are ported.
-- The last describe holds corral's own checks next to these: the `corral` command's
-- 130/143 and its corral.signal rules (scripts run through CORRAL_BIN), cancellation
-- of many process owners, a child whose stdout is never read, many waiters, a
-- delivered exit or signal that a cancel does not take back, and SIGCHLD waiters.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local open_fds, proc_state, read_all = support.open_fds, support.proc_state, support.read_all
local blocked = testing.wait_all_tasks_blocked

local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local LUA = "lua5.4"

-- Spawn and reap /bin/true: a loop opens one fd of its own on its first spawn and
-- keeps it until it closes, so fds are counted after this.
local function warm_up()
  local p <close> = corral.exec("/bin/true", {})
  p:wait()
end
corral.run(warm_up) -- libuv's process-wide signal pipe: opened once, before any count

-- A spec body: testing.run on the real clock, bounded by fail_after, with the fd
-- list compared around the body (inside the run) and around the run.
local function real(fn)
  return function()
    local outer = open_fds()
    testing.run(function()
      warm_up()
      local before = open_fds()
      corral.fail_after(60, fn)
      assert.same(before, open_fds(), "the fds open before and after the body")
    end, { clock = "real" })
    assert.same(outer, open_fds(), "the fds open before and after the run")
  end
end

-- Poll (bounded, on the real clock) until pid is gone: not running, not a zombie.
local function until_gone(pid)
  corral.fail_after(5, function()
    while proc_state(pid) do corral.sleep(0.005) end
  end)
end

-- The same for a grandchild whose parent (a `corral` command) has died: it is
-- reparented to init, which reaps it when it gets to it, so a zombie counts as gone.
local function until_dead(pid)
  corral.fail_after(5, function()
    while proc_state(pid) and proc_state(pid) ~= "Z" do corral.sleep(0.005) end
  end)
end

-- Trio's two background_process parameters: call body(p) with a running process.
local function open_process_then_kill(path, args, opts, body)
  local p <close> = corral.exec(path, args, opts)
  local r = table.pack(body(p))
  p:kill("KILL")
  p:wait()
  return table.unpack(r, 1, r.n)
end

local function run_process_in_nursery(path, args, opts, body)
  local r
  corral.group(function(g)
    local p = g:start(function(ready)
      local p <close> = corral.exec(path, args, opts)
      ready(p)
      p:wait()
      corral.sleep(math.huge)           -- holds the process until the body is done
    end)
    r = table.pack(body(p))
    g:cancel()
  end)
  return table.unpack(r, 1, r.n)
end

local BACKGROUND = {
  { "open_process", open_process_then_kill },
  { "run_process in nursery", run_process_in_nursery },
}

-- CPython's communicate / Trio's run_process with capture: feed input (then end
-- stdin) in one task, read stdout and stderr each in its own; return stdout,
-- stderr, the exit code, its signal. A write error is raised unless ignore_epipe
-- and it is EPIPE (CPython's communicate ignores BrokenPipeError).
local function communicate(p, input, ignore_epipe)
  local out, err
  corral.group(function(g)
    if p.stdin then
      g:spawn(function()
        local ok, e = pcall(function()
          if input and #input > 0 then p.stdin:write(input) end
          p.stdin:shutdown()
        end)
        if not ok and not (ignore_epipe and corral.is_io_error(e) and e.code == "EPIPE") then
          error(e, 0)
        end
      end)
    end
    if p.stderr then g:spawn(function() err = read_all(p.stderr) end) end
    if p.stdout then out = read_all(p.stdout) end
  end)
  return out, err, p:wait()
end

local CAT = { "/bin/cat", {} }
local COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR = { LUA, { "-e",
  "local d = io.read('a'); io.stdout:write(d); io.stderr:write(d:reverse())" } }

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- Send this process a signal; only while a task waits for it in corral.signal.
local function send_signal(name)
  io.popen("kill -" .. name .. " " .. support.pid()):close()
end

-- SigCgt of /proc/self/status: the set of caught signals, as a hex string.
local function caught_signals()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return s:match("SigCgt:%s*(%x+)")
end

-- Whether signal number n is in a SigCgt mask.
local function is_caught(mask, n)
  return (tonumber(mask, 16) >> (n - 1)) & 1 == 1
end
local SIGUSR1, SIGUSR2 = 10, 12

-- Let the loop turn (read libuv's signal pipe) without asserting any time.
local function let_loop_turn()
  corral.sleep(0.02)
end

describe("Trio src/trio/_tests/test_subprocess.py", function()
  it("test_basic", real(function()
    for _, bg in ipairs(BACKGROUND) do
      for _, case in ipairs({ { "/bin/true", 0 }, { "/bin/false", 1 } }) do
        local code, text, pid = bg[2](case[1], {}, nil, function(p)
          return p:wait(), tostring(p), p.pid
        end)
        assert.equal(case[2], code, bg[1])
        assert.equal(("corral.Process(pid %d, exited %d)"):format(pid, case[2]), text, bg[1])
      end
    end
  end))

  it("test_auto_update_returncode", real(function()
    for _, bg in ipairs(BACKGROUND) do
      bg[2]("/bin/sleep", { "9999" }, nil, function(p)
        assert.matches("running", tostring(p))
        p:kill("KILL")
        -- no p:wait(): the status is noted as the loop reaps the child
        corral.fail_after(5, function()
          while tostring(p):find("running", 1, true) do corral.sleep(0.005) end
        end)
        assert.equal(("corral.Process(pid %d, killed by SIGKILL)"):format(p.pid), tostring(p))
      end)
    end
  end))

  it("test_multi_wait", real(function()
    for _, bg in ipairs(BACKGROUND) do
      local results = {}
      bg[2]("/bin/sleep", { "10" }, nil, function(p)
        -- wait (multi-wait included) tolerates being cancelled
        corral.group(function(g)
          for _ = 1, 3 do g:spawn(p.wait, p) end
          blocked()
          g:cancel()
        end)
        assert.is_truthy(proc_state(p.pid), "the cancelled waits did not kill the child")
        -- now wait for real
        corral.group(function(g)
          for i = 1, 3 do g:spawn(function() results[i] = table.pack(p:wait()) end) end
          blocked()
          p:kill("KILL")
        end)
      end)
      for i = 1, 3 do assert.same({ n = 2, 137, "SIGKILL" }, results[i], bg[1]) end
    end
  end))

  it("test_pipes", real(function()
    for _, bg in ipairs(BACKGROUND) do
      local msg = "the quick brown fox jumps over the lazy dog"
      local grp, code
      bg[2](COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR[1], COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR[2], nil,
        function(p)
          corral.group(function(g)
            grp = g
            g:spawn(function()
              p.stdin:write(msg)
              p.stdin:shutdown()
            end)
            g:spawn(function() assert.equal(msg, read_all(p.stdout)) end)
            g:spawn(function() assert.equal(msg:reverse(), read_all(p.stderr)) end)
          end, { timeout = 30 })        -- fail eventually if something is broken
          code = p:wait()
        end)
      assert.is_false(grp.cancel_caught, bg[1])
      assert.equal(0, code, bg[1])
    end
  end))

  it("test_interactive", real(function()
    local CHILD = [[
      local idx = 0
      for line in io.lines() do
        local request = math.tointeger(tonumber(line))
        io.stdout:write(string.rep(tostring(idx * 2), request), "\n"); io.stdout:flush()
        io.stderr:write(string.rep(tostring(idx * 2 + 1), request * 2), "\n"); io.stderr:flush()
        idx = idx + 1
      end
    ]]
    for _, bg in ipairs(BACKGROUND) do
      local code = bg[2](LUA, { "-e", CHILD }, nil, function(p)
        local function expect(idx, request)
          corral.group(function(g)
            local function drain_one(stream, count, digit)
              while count > 0 do
                local result = stream:read(count)
                assert.equal(string.rep(tostring(digit), #result), result)
                count = count - #result
              end
              assert.equal(0, count)
              assert.equal("\n", stream:read(1))
            end
            g:spawn(drain_one, p.stdout, request, idx * 2)
            g:spawn(drain_one, p.stderr, request * 2, idx * 2 + 1)
          end)
        end
        return corral.fail_after(15, function()  -- Trio's 5 s, with room for a loaded machine
          p.stdin:write("12")
          corral.sleep(0.1)
          p.stdin:write("345\n")
          expect(0, 12345)
          p.stdin:write("100\n200\n")
          expect(1, 100)
          expect(2, 200)
          p.stdin:write("0\n")
          expect(3, 0)
          p.stdin:write("999999")
          assert.is_false(corral.move_on_after(0.1, expect, 4, 0)) -- no newline yet
          p.stdin:write("\n")
          expect(4, 999999)
          p.stdin:shutdown()
          assert.is_nil(p.stdout:read(1))
          assert.is_nil(p.stderr:read(1))
          return p:wait()
        end)
      end)
      assert.equal(0, code, bg[1])
    end
  end))

  it("test_run", real(function()
    local data = random_bytes(2 ^ 18)
    local p <close> = corral.exec(CAT[1], CAT[2])
    local out, err, code = communicate(p, data)
    assert.equal(0, code)
    assert.is_true(out == data, "stdout is the input")
    assert.equal("", err)

    local q <close> = corral.exec(CAT[1], CAT[2], { stderr = "inherit" })
    out, err, code = communicate(q)
    assert.equal(0, code)
    assert.equal("", out)
    assert.is_nil(q.stderr)

    local r <close> = corral.exec(COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR[1],
      COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR[2])
    out, err, code = communicate(r, data)
    assert.equal(0, code)
    assert.is_true(out == data, "stdout is the input")
    assert.is_true(err == data:reverse(), "stderr is the input reversed")
  end))

  it("test_run_check", real(function()
    local cmd = { "/bin/sh", { "-c", "printf 'test\\n' >&2; exit 1" } }
    local p <close> = corral.exec(cmd[1], cmd[2], { stdin = "inherit", stdout = "inherit" })
    local _, err, code = communicate(p)
    assert.equal(1, code)
    assert.equal("test\n", err)
    assert.is_nil(p.stdout)
    local q <close> = corral.exec(cmd[1], cmd[2])
    local out
    out, err, code = communicate(q)
    assert.same({ "", "test\n", 1 }, { out, err, code })
  end))

  it("test_run_with_broken_pipe", real(function()
    -- the child closes its stdin and exits: the write either fits in the socket's
    -- buffer or raises EPIPE (Trio's run_process ignores it); it never kills this
    -- process with SIGPIPE, and the child's status is its own
    local p <close> = corral.exec("/bin/sh", { "-c", "exec <&-" }, { stdout = "inherit", stderr = "inherit" })
    local ok, e = pcall(p.stdin.write, p.stdin, ("x"):rep(131072))
    if not ok then
      assert.is_true(corral.is_io_error(e), tostring(e))
      assert.equal("EPIPE", e.code)
    end
    assert.same({ n = 2, 0, nil }, table.pack(p:wait()))
    assert.is_nil(p.stdout)
    assert.is_nil(p.stderr)
  end))

  it("test_errors", real(function()
    support.assert_arg_error(3, "exec", "unknown option 'encoding'",
      function() corral.exec("/bin/ls", {}, { encoding = "utf-8" }) end)
    support.assert_arg_error(3, "exec", "unknown option 'shell'",
      function() corral.exec("/bin/ls", {}, { shell = true }) end)
    support.assert_arg_error(2, "exec", "table expected",
      function() corral.exec("/bin/ls", "-l") end)
  end))

  it("test_signals", real(function()
    for _, bg in ipairs(BACKGROUND) do
      local function test_one_signal(send_it, expected)
        local r
        local ok = corral.move_on_after(10, function()  -- Trio's 1 s: only a hang guard
          bg[2]("/bin/sleep", { "3600" }, nil, function(p)
            send_it(p)
            r = table.pack(p:wait())
          end)
        end)
        assert.is_true(ok, bg[1])
        assert.same(expected, r, bg[1])
      end
      test_one_signal(function(p) p:kill("KILL") end, { n = 2, 137, "SIGKILL" })
      test_one_signal(function(p) p:kill() end, { n = 2, 143, "SIGTERM" })
      test_one_signal(function(p) p:kill("SIGUSR1") end, { n = 2, 138, "SIGUSR1" })
    end
  end))

  it("test_custom_deliver_cancel", real(function()
    -- run_process's deliver_cancel, written as the owner's shielded cleanup
    local called, result, pid = false, nil, nil
    corral.group(function(g)
      g:spawn(function()
        local p <close> = corral.exec("/bin/sleep", { "9999" })
        pid = p.pid
        local ok, e = pcall(p.wait, p)
        assert.is_true(corral.is_cancelled(e), tostring(e))
        corral.scope(function()
          called = true
          p:kill("TERM")
          result = table.pack(p:wait())
        end, { shield = true })
        error(e, 0)
      end)
      blocked()
      g:cancel()
    end)
    assert.is_true(called)
    assert.same({ n = 2, 143, "SIGTERM" }, result)
    assert.is_nil(proc_state(pid))
  end))

  it("test_bad_deliver_cancel", real(function()
    local pid
    local eg = support.error_group(corral.group, function(g)
      g:spawn(function()
        local p <close> = corral.exec("/bin/sleep", { "9999" })
        pid = p.pid
        pcall(p.wait, p)                    -- cancelled
        p:kill("TERM")
        error("foo", 0)
      end)
      blocked()
      g:cancel()
    end)
    assert.same({ "foo" }, eg.errors)
    until_gone(pid)
  end))

  it("test_warn_on_cancel_SIGKILL_escalation", function()
    -- Trio's autojump_clock: the virtual clock, jumping once every task has been
    -- blocked for 0.2 s of real time. The child ignores SIGTERM (an ignored signal
    -- survives exec), so the shielded cleanup's SIGTERM is followed by a SIGKILL
    -- after 5 virtual seconds; run_process's RuntimeWarning has no counterpart.
    local outer = open_fds()
    testing.run(function()
      warm_up()
      local result, escalated_at
      local ready = corral.event()
      corral.fail_after(60, function()
        corral.group(function(g)
          g:spawn(function()
            local p <close> = corral.exec("/bin/sh", { "-c", "trap '' TERM; echo ready; exec sleep 9999" })
            assert.equal("ready", p.stdout:read_line())
            ready:set()
            local _, e = pcall(p.wait, p)
            corral.scope(function()
              p:kill("TERM")
              if not corral.move_on_after(5, p.wait, p) then
                escalated_at = corral.now()
                p:kill("KILL")
              end
              result = table.pack(p:wait())
            end, { shield = true })
            error(e, 0)
          end)
          ready:wait()
          blocked()
          g:cancel()
        end)
      end)
      assert.is_truthy(escalated_at, "SIGTERM was ignored, so SIGKILL followed")
      assert.same({ n = 2, 137, "SIGKILL" }, result)
    end, { autojump_threshold = 0.2 })
    assert.same(outer, open_fds())
  end)

  it("test_for_leaking_fds", real(function()
    local starting = open_fds()
    local p <close> = corral.exec("/bin/true", {})
    assert.equal(0, p:wait())
    p:close()
    assert.same(starting, open_fds())
    local q <close> = corral.exec("/bin/false", {})
    assert.equal(1, q:wait())
    q:close()
    assert.same(starting, open_fds())
    local e = support.raises(corral.exec, "/dev/fd/0", {})
    assert.is_true(corral.is_io_error(e), tostring(e))
    assert.equal("EACCES", e.code)
    assert.same(starting, open_fds())
  end))

  it("test_subprocess_pidfd_unnotified", real(function()
    local p <close> = corral.exec("/bin/sleep", { "9999" })
    local noticed = corral.event()
    corral.group(function(g)
      g:spawn(function()
        p:wait()
        noticed:set()
      end)
      blocked()
      p:kill("TERM")
      -- without letting the loop turn, until the child has exited (a zombie)
      for _ = 1, 500 do
        if proc_state(p.pid) == "Z" then break end
        os.execute("sleep 0.01")
      end
      assert.equal("Z", proc_state(p.pid))
      corral.move_on_after(5, noticed.wait, noticed)
      assert.is_true(noticed:is_set(), "the waiter was woken")
    end)
  end))
end)

describe("Trio src/trio/_tests/test_signals.py", function()
  it("test_open_signal_receiver", function()
    local orig = caught_signals()
    real(function()
      local got = {}
      corral.group(function(g)
        g:spawn(function() local s = corral.signal("SIGUSR1"); got[#got + 1] = s end)
        blocked()
        -- raise it a few times: arrivals close together are one
        send_signal("USR1")
        send_signal("USR1")
        let_loop_turn()
        send_signal("USR1")             -- nobody waits any more: dropped, not fatal
        let_loop_turn()
      end)
      assert.same({ "SIGUSR1" }, got)
      -- nothing pending (get_pending_signal_count == 0)
      assert.is_false(corral.move_on_after(0.1, corral.signal, "SIGUSR1"))
      corral.group(function(g)
        g:spawn(function() local s = corral.signal("SIGUSR1"); got[#got + 1] = s end)
        blocked()
        send_signal("USR1")
      end)
      assert.same({ "SIGUSR1", "SIGUSR1" }, got)
      assert.is_true(is_caught(caught_signals(), SIGUSR1), "caught while the run lasts")
    end)()
    assert.equal(orig, caught_signals(), "the disposition is restored when the run ends")
  end)

  it("test_open_signal_receiver_restore_handler_after_one_bad_signal", function()
    local orig = caught_signals()
    real(function()
      support.assert_arg_error(1, "signal", "no signal numbered 1234567",
        function() corral.signal(1234567) end)
      assert.equal(orig, caught_signals(), "a refused wait installs nothing")
    end)()
    assert.equal(orig, caught_signals())
  end)

  it("test_open_signal_receiver_empty_fail", real(function()
    support.assert_arg_error(1, "signal", "signal name or number expected", function() corral.signal() end)
  end))

  it("test_open_signal_receiver_restore_handler_after_duplicate_signal", function()
    local orig = caught_signals()
    assert.is_false(is_caught(orig, SIGUSR1))
    real(function()
      corral.group(function(g)
        g:spawn(corral.signal, "SIGUSR1")
        g:spawn(corral.signal, "USR1")
        blocked()
        g:cancel()
      end)
    end)()
    assert.equal(orig, caught_signals())
  end)

  it("test_open_signal_receiver_conflict", real(function()
    -- not a conflict in corral: every waiter wakes
    local got = {}
    corral.group(function(g)
      g:spawn(function() local s = corral.signal("SIGUSR1"); got[#got + 1] = s end)
      g:spawn(function() local s = corral.signal("USR1"); got[#got + 1] = s end)
      g:spawn(function() local s = corral.signal(SIGUSR1); got[#got + 1] = s end)   -- by number
      blocked()
      send_signal("USR1")
    end)
    assert.same({ "SIGUSR1", "SIGUSR1", "SIGUSR1" }, got)
  end))

  it("test_open_signal_receiver_no_starvation", real(function()
    -- both signals pending every round: neither starves the other
    for round = 1, 10 do
      local got = {}
      corral.group(function(g)
        g:spawn(function() local s = corral.signal("SIGUSR1"); got[#got + 1] = s end)
        g:spawn(function() local s = corral.signal("SIGUSR2"); got[#got + 1] = s end)
        blocked()
        send_signal("USR1")
        send_signal("USR2")
      end)
      table.sort(got)
      assert.same({ "SIGUSR1", "SIGUSR2" }, got, "round " .. round)
    end
  end))

  it("test_catch_signals_race_condition_on_exit", real(function()
    -- the waiters leave before the signals come: the process survives them
    corral.group(function(g)
      g:spawn(corral.signal, "SIGUSR1")
      g:spawn(corral.signal, "SIGUSR2")
      blocked()
      g:cancel()
    end)
    send_signal("USR1")
    send_signal("USR2")
    let_loop_turn()
    -- and a later waiter is not handed those stale arrivals
    local r = {}
    corral.group(function(g)
      g:spawn(function() r[1] = corral.move_on_after(0.1, corral.signal, "SIGUSR1") end)
      g:spawn(function() r[2] = corral.move_on_after(0.1, corral.signal, "SIGUSR2") end)
    end)
    assert.same({ false, false }, r)
  end))
end)

describe("AnyIO tests/test_subprocesses.py", function()
  it("test_run_process", real(function()
    local reverse = "io.write(io.read('a'):reverse(), '\\n')"
    for _, cmd in ipairs({
      { "shell", "/bin/sh", { "-c", LUA .. ' -e "' .. reverse .. '"' } },
      { "exec", LUA, { "-e", reverse } },
    }) do
      local p <close> = corral.exec(cmd[2], cmd[3])
      local out, _, code = communicate(p, "abc")
      assert.equal(0, code, cmd[1])
      assert.equal("cba\n", out, cmd[1])
    end
  end))

  it("test_run_process_checked", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "echo stderr-text >&2; echo stdout-text; exit 1" })
    local out, err, code = communicate(p)
    assert.same({ 1, "stdout-text\n", "stderr-text\n" }, { code, out, err })
  end))

  it("test_terminate", real(function()
    -- the child handles SIGTERM itself and exits 2
    local p <close> = corral.exec("/bin/sh", { "-c",
      "trap 'kill $!; exit 2' TERM; echo ready; sleep 5 & wait $!" })
    assert.equal("ready", p.stdout:read_line())
    p:kill("TERM")
    assert.same({ n = 2, 2, nil }, table.pack(p:wait()))
  end))

  it("test_process_receive_invalid_max_bytes", real(function()
    for _, max_bytes in ipairs({ 0, -1 }) do
      local p <close> = corral.exec("/bin/sh", { "-c", "printf x" })
      support.assert_arg_error(1, "read", "max must be an integer >= 1",
        function() p.stdout:read(max_bytes) end)
      assert.equal(0, p:wait())
    end
  end))

  it("test_process_cwd", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "pwd" }, { cwd = "/usr" })
    local out, _, code = communicate(p)
    assert.equal(0, code)
    assert.equal("/usr", out:match("^(.-)%s*$"))
  end))

  it("test_process_env", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", 'echo "$foo"' },
      { env = { foo = "bar", PATH = os.getenv("PATH") } })
    local out = communicate(p)
    assert.equal("bar", out:match("^(.-)%s*$"))
  end))

  it("test_run_process_inherit_stdout", real(function()
    -- a child lua runs corral.exec with inherited stdout and stderr; its own
    -- stdout and stderr are pipes this test reads (pytest's capfd)
    local env = { LUA_CPATH = package.cpath, LUA_PATH = package.path, PATH = os.getenv("PATH") }
    for _, name in ipairs({ "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }) do env[name] = os.getenv(name) end
    local p <close> = corral.exec(LUA, { "-e", [[
      local corral = require "corral"
      corral.run(function()
        local q <close> = corral.exec("/bin/sh", { "-c", "echo stderr-text >&2; echo stdout-text" },
          { stdout = "inherit", stderr = "inherit" })
        assert(q.stdout == nil and q.stderr == nil)
        assert(q:wait() == 0)
      end)
    ]] }, { env = env })
    local out, err, code = communicate(p)
    assert.same({ 0, "stdout-text\n", "stderr-text\n" }, { code, out, err })
  end))

  it("test_process_aexit_cancellation_doesnt_orphan_process", real(function()
    -- (sleep 3600 where AnyIO sleeps 1 s: only a kill can end it within the bound)
    local pid, scope
    corral.scope(function(s)
      scope = s
      local p <close> = corral.exec("/bin/sleep", { "3600" })
      pid = p.pid
      s:cancel()
      p:wait()                            -- __aexit__'s wait: raises Cancelled
    end)
    assert.is_true(scope.cancel_caught)
    until_gone(pid)                       -- killed and reaped, not orphaned
  end))

  it("test_process_aexit_cancellation_closes_standard_streams", real(function()
    local p
    corral.scope(function(s)
      local q <close> = corral.exec("/bin/sleep", { "3600" })
      p = q
      s:cancel()
      q:wait()
    end)
    assert.is_true(p.closed)
    support.assert_mentions(support.raises(p.stdin.write, p.stdin, "foo"), "closed")
    support.assert_mentions(support.raises(p.stdout.read, p.stdout, 1), "closed")
    support.assert_mentions(support.raises(p.stderr.read, p.stderr, 1), "closed")
  end))

  it("test_exceptions_after_subprocess_closes_standard_streams", real(function()
    local p
    do
      local q <close> = corral.exec("/bin/sh", { "-c", "" })
      p = q
      q:wait()
      local ok, e = pcall(function()
        for _ = 1, 3 do q.stdin:write("foo") end
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_io_error(e) and e.code == "EPIPE", tostring(e))
      local e2 = support.raises(q.stdin.write, q.stdin, "foo")
      assert.is_true(corral.is_io_error(e2) and e2.code == "EPIPE", tostring(e2))
      assert.is_nil(q.stdout:read(1))     -- EndOfStream
      assert.is_nil(q.stderr:read(1))
    end
    support.assert_mentions(support.raises(p.stdin.write, p.stdin, "foo"), "closed stream")
    support.assert_mentions(support.raises(p.stdout.read, p.stdout, 1), "closed stream")
    support.assert_mentions(support.raises(p.stderr.read, p.stderr, 1), "closed stream")
  end))

  it("test_close_early", real(function()
    local pid
    do
      local p <close> = corral.exec("/bin/sh", { "-c",
        "i=0; while [ $i -lt 100 ]; do printf '%0256d' 0; i=$((i+1)); done" })
      pid = p.pid
    end
    until_gone(pid)
  end))

  it("test_close_while_reading", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })  -- AnyIO's sleeps 3 s
    local err
    corral.group(function(g)
      g:spawn(function() err = support.raises(p.stdout.read, p.stdout) end)
      blocked()
      p.stdout:close()
    end)
    assert.is_false(corral.is_cancelled(err))
    support.assert_mentions(err, "closed")
    p:kill("TERM")
    assert.same({ n = 2, 143, "SIGTERM" }, table.pack(p:wait()))
  end))

  it("test_wait_returns_on_process_exit_with_open_stdout", real(function()
    -- a grandchild inherits the stdout pipe and keeps it open until its stdin ends
    local p <close> = corral.exec("/bin/sh", { "-c", "exec 3<&0; cat <&3 & exit 0" })
    assert.equal(0, corral.fail_after(10, p.wait, p))
    p.stdin:shutdown()                     -- unblocks the grandchild
    corral.scope(function()
      corral.fail_after(10, function()
        assert.equal("", read_all(p.stdout))
        assert.equal("", read_all(p.stderr))
      end)
    end, { shield = true })
  end))

  it("test_close_with_stdout_blocked_subprocess", real(function()
    local p = corral.exec("/bin/sh", { "-c", "head -c 1048576 /dev/zero" })
    local pid = p.pid
    corral.fail_after(5, p.close, p)
    until_gone(pid)
  end))
end)

describe("AnyIO tests/test_signals.py", function()
  it("test_receive_signals", real(function()
    local got = {}
    corral.group(function(g)
      g:spawn(function() got[1] = corral.signal("SIGUSR1") end)
      g:spawn(function() got[2] = corral.signal("SIGUSR2") end)
      blocked()
      -- sent by a child instead of a thread
      local k <close> = corral.exec("/bin/sh", { "-c", 'kill -USR1 "$1"; kill -USR2 "$1"', "sh",
        tostring(support.pid()) })
      assert.equal(0, k:wait())
    end)
    assert.same({ "SIGUSR1", "SIGUSR2" }, got)
  end))

  it("test_task_group_cancellation_open", real(function()
    local reached
    corral.group(function(g)
      g:spawn(function()
        local ok, e = pcall(corral.signal, "SIGUSR1")
        assert.is_false(ok, "SIGUSR1 should not be sent")
        assert.is_true(corral.is_cancelled(e), "corral.signal should have been cancelled")
        reached = true
        error(e, 0)                         -- corral.signal does not suppress it
      end)
      g:cancel()
    end)
    assert.is_true(reached)
  end))

  it("test_task_group_cancellation_consume", real(function()
    -- the signal is already watched (a wait happened before) when the consumer starts
    assert.is_false(corral.move_on_after(0.01, corral.signal, "SIGUSR1"))
    local reached
    corral.group(function(g)
      g:spawn(function()
        local ok, e = pcall(corral.signal, "SIGUSR1")
        assert.is_false(ok, "SIGUSR1 should not be sent")
        assert.is_true(corral.is_cancelled(e), "consume should have been cancelled")
        reached = true
        error(e, 0)
      end)
      g:cancel()
    end)
    assert.is_true(reached)
  end))
end)

describe("CPython Lib/test/test_asyncio/test_subprocess.py", function()
  it("test_proc_exited", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "exit 6" })
    assert.equal(6, p:wait())
    -- asyncio raises ProcessLookupError here; corral's kill does nothing once exited
    assert.same({ n = 0 }, table.pack(p:kill("TERM")))
    assert.same({ n = 0 }, table.pack(p:kill()))
    assert.same({ n = 0 }, table.pack(p:kill("KILL")))
    assert.equal(6, p:wait())
    p:close()
    p:close()
  end))

  it("test_subprocess_repr", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "read x; exit 6" })
    local pid = p.pid
    assert.equal(("corral.Process(pid %d, running)"):format(pid), tostring(p))
    p.stdin:shutdown()
    p:wait()
    assert.equal(("corral.Process(pid %d, exited 6)"):format(pid), tostring(p))
    p:close()
    assert.equal("corral.Process(closed)", tostring(p))
    assert.is_nil(p.pid)
  end))

  it("test_stdin_stdout", real(function()
    local p <close> = corral.exec(CAT[1], CAT[2])
    p.stdin:write("some data")
    p.stdin:shutdown()
    local data = read_all(p.stdout)
    assert.same({ 0, "some data" }, { p:wait(), data })
  end))

  it("test_communicate", real(function()
    local p <close> = corral.exec(CAT[1], CAT[2])
    local out, _, code = communicate(p, "some data")
    assert.same({ 0, "some data" }, { code, out })
  end))

  it("test_shell", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "exit 7" })
    assert.equal(7, p:wait())
  end))

  it("test_kill", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    p:kill("KILL")
    assert.same({ n = 2, 137, "SIGKILL" }, table.pack(p:wait()))
  end))

  it("test_terminate", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    p:kill("TERM")
    assert.same({ n = 2, 143, "SIGTERM" }, table.pack(p:wait()))
  end))

  it("test_send_signal", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "echo sleeping; exec sleep 3600" })
    assert.equal("sleeping", p.stdout:read_line())
    p:kill("SIGHUP")
    assert.same({ n = 2, 129, "SIGHUP" }, table.pack(p:wait()))
  end))

  it("test_stdin_broken_pipe", real(function()
    local large = ("x"):rep(1 << 20)
    local p <close> = corral.exec("/bin/true", {})
    p:wait()                                -- the program ends before stdin is fed
    local e = support.raises(p.stdin.write, p.stdin, large)
    assert.is_true(corral.is_io_error(e), tostring(e))
    assert.equal("EPIPE", e.code)
    assert.equal(0, p:wait())
  end))

  it("test_communicate_ignore_broken_pipe", real(function()
    local p <close> = corral.exec("/bin/true", {})
    local out, err, code = communicate(p, ("x"):rep(1 << 20), true)
    assert.same({ "", "", 0 }, { out, err, code })
  end))

  it("test_pause_reading", real(function()
    local limit, size = 10, 21
    local p <close> = corral.exec(LUA, { "-e", ("io.write(('x'):rep(%d))"):format(size) })
    local parts = {}
    while true do
      local chunk = p.stdout:read(limit)
      if not chunk then break end
      assert.is_true(#chunk >= 1 and #chunk <= limit, "a read takes at most the limit")
      parts[#parts + 1] = chunk
    end
    assert.is_true(#parts >= 3)
    assert.equal(("x"):rep(size), table.concat(parts))
    assert.equal(0, p:wait())
  end))

  it("test_stdin_not_inheritable", real(function()
    -- a child started later must not hold the first child's stdin open
    local p <close> = corral.exec("/bin/sh", { "-c", "wc -c" })
    local later <close> = corral.exec("/bin/sleep", { "3600" })
    local out, _, code = communicate(p, "abc")
    assert.equal("3", out:match("^%s*(.-)%s*$"))
    assert.equal(0, code)
  end))

  it("test_empty_input", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "wc -c" })
    local out, _, code = communicate(p, "")
    assert.equal("0", out:match("^%s*(.-)%s*$"))
    assert.equal(0, code)
  end))

  it("test_cancel_process_wait", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    corral.group(function(g)
      local t = g:spawn(p.wait, p)
      g:spawn(function() t:cancel() end)
      local ok, e = t:wait()
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(e))
      t:cancel()                            -- cancel the finished one again
    end)
    p:kill("KILL")
    assert.equal(137, p:wait())
  end))

  it("test_cancel_make_subprocess_transport_exec", real(function()
    local pid
    corral.scope(function(s)
      s:cancel()
      local p <close> = corral.exec("/bin/sleep", { "3600" })  -- exec is no cancellation point
      pid = p.pid
      corral.checkpoint()
    end)
    until_gone(pid)
  end))

  it("test_cancel_post_init", real(function()
    local pid
    corral.group(function(g)
      g:spawn(function()
        local p <close> = corral.exec("/bin/sleep", { "3600" })
        pid = p.pid
        p:wait()
      end)
      blocked()
      g:cancel()
    end)
    until_gone(pid)
  end))

  it("test_close_kill_running", real(function()
    local p = corral.exec("/bin/sleep", { "3600" })
    local pid = p.pid
    assert.matches("running", tostring(p))
    p:close()                               -- close() kills the running process
    until_gone(pid)
  end))

  -- Popen failing (mocked there) is a spawn that fails here: a file that is no program
  local function popen_error(stdin)
    local before = open_fds()
    local e = support.raises(corral.exec, "/dev/null", {}, { stdin = stdin })
    assert.is_true(corral.is_io_error(e), tostring(e))
    assert.equal("spawn", e.op)
    assert.equal("EACCES", e.code)
    assert.same(before, open_fds(), "no pipe is left after the failed spawn")
  end

  it("test_popen_error", real(function() popen_error("inherit") end))

  it("test_popen_error_with_stdin_pipe", real(function() popen_error("pipe") end))

  it("test_read_stdout_after_process_exit", real(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "head -c 262144 /dev/zero; exit 1" })
    local total = 0
    while true do
      local data = p.stdout:read(65536)
      if not data then break end
      total = total + #data
      corral.sleep(0.01)
    end
    assert.equal(262144, total)
    assert.equal(1, p:wait())
  end))

  it("test_create_subprocess_exec_text_mode_fails", real(function()
    for _, name in ipairs({ "text", "encoding", "errors" }) do
      support.assert_arg_error(3, "exec", "unknown option '" .. name .. "'",
        function() corral.exec(LUA, {}, { [name] = true }) end)
    end
  end))

  it("test_create_subprocess_shell_text_mode_fails", real(function()
    for _, name in ipairs({ "text", "encoding", "errors" }) do
      support.assert_arg_error(3, "exec", "unknown option '" .. name .. "'",
        function() corral.exec("/bin/sh", { "-c", LUA }, { [name] = true }) end)
    end
  end))
end)

-- A script run by the `corral` command; returns the process (stdout a pipe).
local function corral_script(src)
  local path = os.tmpname()
  support.write_file(path, "io.stdout:setvbuf('no')\nlocal corral = require 'corral'\n" .. src)
  local p = corral.exec(BIN, { path })
  return p, path
end

describe("corral's own: the command's signal exits, cancelled owners, unread output, many waiters", function()
  for _, case in ipairs({ { "INT", 130 }, { "TERM", 143 } }) do
    it(("a SIG%s nobody waits for cancels the root, runs every cleanup, and exits %d"):format(case[1], case[2]),
      real(function()
        local p <close>, path = corral_script([[
          local _ <close> = setmetatable({}, { __close = function() print("cleanup") end })
          print("ready")
          corral.sleep(math.huge)
        ]])
        assert.equal("ready", p.stdout:read_line())
        p:kill(case[1])
        local out = read_all(p.stdout)
        assert.same({ n = 2, case[2], nil }, table.pack(p:wait()))
        assert.equal("cleanup\n", out)
        support.assert_mentions(read_all(p.stderr), "interrupted by SIG" .. case[1])
        os.remove(path)
      end))

    it(("a SIG%s a task waits for in corral.signal wakes it and cancels nothing; the script exits 0"):format(case[1]),
      real(function()
        local p <close>, path = corral_script(([[
          local got = corral.event()
          corral.group(function(g)
            g:spawn(function() print("got " .. corral.signal("SIG%s")); got:set() end)
            g:spawn(function() got:wait(); print("not cancelled") end)
            corral.checkpoint()                 -- the waiter is in its wait
            print("ready")
          end)
        ]]):format(case[1]))
        assert.equal("ready", p.stdout:read_line())
        p:kill(case[1])
        local out = read_all(p.stdout)
        assert.same({ n = 2, 0, nil }, table.pack(p:wait()))
        assert.equal("got SIG" .. case[1] .. "\nnot cancelled\n", out)
        assert.equal("", read_all(p.stderr))
        os.remove(path)
      end))
  end

  it("a SIGTERM nobody waits for cancels the root even while a task waits for SIGINT: exit 143", real(function()
    local p <close>, path = corral_script([[
      corral.group(function(g)
        g:spawn(corral.signal, "SIGINT")
        corral.checkpoint()
        print("ready")
      end)
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("TERM")
    assert.same({ n = 2, 143, nil }, table.pack(p:wait()))
    os.remove(path)
  end))

  it("a script that swallows the Cancelled of a SIGINT still exits 130", real(function()
    local p <close>, path = corral_script([[
      print("ready")
      local ok, e = pcall(corral.sleep, math.huge)
      print("swallowed " .. tostring(corral.is_cancelled(e)))
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("INT")
    local out = read_all(p.stdout)
    assert.same({ n = 2, 130, nil }, table.pack(p:wait()))
    assert.equal("swallowed true\n", out)
    os.remove(path)
  end))

  it("`corral -e code` and `corral -` (the script fed through its stdin pipe) exit 143 on SIGTERM", real(function()
    local script = [[local corral = require "corral"; io.stdout:setvbuf("no"); print("ready"); corral.sleep(math.huge)]]
    local e <close> = corral.exec(BIN, { "-e", script })
    local d <close> = corral.exec(BIN, { "-" })
    d.stdin:write(script)
    d.stdin:shutdown()
    for _, p in ipairs({ e, d }) do
      assert.equal("ready", p.stdout:read_line())
      p:kill("TERM")
      assert.same({ n = 2, 143, nil }, table.pack(p:wait()))
    end
  end))

  it("a program that handles SIGTERM itself ends with its own status (os.exit(3) in the handler)", real(function()
    local p <close>, path = corral_script([[
      corral.group(function(g)
        g:spawn(function() corral.signal("SIGTERM"); os.exit(3) end)
        corral.checkpoint()
        print("ready")
      end)
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("TERM")
    assert.same({ n = 2, 3, nil }, table.pack(p:wait()))
    os.remove(path)
  end))

  it("g:stop(grace) on Ctrl-C: a worker winds down on its own and the script exits 0", real(function()
    local p <close>, path = corral_script([[
      corral.group(function(g)
        g:spawn(function()
          g:wait_stopping()
          print("worker winding down")
        end)
        g:spawn(function()
          corral.signal("SIGINT")
          g:stop(5)
        end)
        corral.checkpoint()
        print("ready")
      end)
      print("stopped")
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("INT")
    local out = read_all(p.stdout)
    assert.same({ n = 2, 0, nil }, table.pack(p:wait()))
    assert.equal("worker winding down\nstopped\n", out)
    os.remove(path)
  end))

  it("race over SIGINT and SIGTERM: the first SIGTERM is handled, then a SIGINT nobody waits for cancels: exit 130", real(function()
    local p <close>, path = corral_script([[
      local race = require "corral.race"
      corral.group(function(g)
        g:spawn(function()
          local _, sig = race({ function() return corral.signal("SIGINT") end,
                                function() return corral.signal("SIGTERM") end })
          print("got " .. sig)
          corral.sleep(3600)                -- still handling it
        end)
        corral.checkpoint()
        corral.checkpoint()                 -- both race branches are in their waits
        print("ready")
      end)
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("TERM")
    assert.equal("got SIGTERM", p.stdout:read_line())
    p:kill("INT")
    assert.same({ n = 2, 130, nil }, table.pack(p:wait()))
    os.remove(path)
  end))

  it("a cleanup that fails while a SIGTERM unwinds makes the exit 1, the failure printed", real(function()
    local p <close>, path = corral_script([[
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function() error("cleanup failed") end })
          corral.sleep(math.huge)
        end)
        corral.checkpoint()
        print("ready")
      end)
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("TERM")
    local err = read_all(p.stderr)
    assert.same({ n = 2, 1, nil }, table.pack(p:wait()))
    support.assert_mentions(err, "cleanup failed")
    os.remove(path)
  end))

  it("os.exit(5) under the command exits 5 and kills the children it has not reaped", real(function()
    local p <close>, path = corral_script([[
      local child = corral.exec("/bin/sleep", { "3600" })
      print(child.pid)
      corral.sleep(0.01)
      os.exit(5)
    ]])
    local pid = math.tointeger(tonumber(p.stdout:read_line()))
    assert.same({ n = 2, 5, nil }, table.pack(p:wait()))
    local ok = pcall(until_dead, pid)
    if not ok then os.execute("kill -9 " .. pid) end
    assert.is_true(ok, "the child was killed before the command exited")
    os.remove(path)
  end))

  it("a second SIGINT while the first is being handled cancels the root: exit 130", real(function()
    local p <close>, path = corral_script([[
      local _ <close> = setmetatable({}, { __close = function() print("cleanup") end })
      corral.group(function(g)
        g:spawn(function()
          corral.signal("SIGINT")
          print("handling")
          corral.sleep(math.huge)
        end)
        corral.checkpoint()
        print("ready")
      end)
    ]])
    assert.equal("ready", p.stdout:read_line())
    p:kill("INT")
    assert.equal("handling", p.stdout:read_line())
    p:kill("INT")
    local out = read_all(p.stdout)
    assert.same({ n = 2, 130, nil }, table.pack(p:wait()))
    assert.equal("cleanup\n", out)
    os.remove(path)
  end))

  it("one more SIGINT while the root unwinds kills the command by SIGINT, and its child with it", real(function()
    local p <close>, path = corral_script([[
      local child <close> = corral.exec("/bin/sleep", { "3600" })
      print(child.pid)
      pcall(corral.sleep, math.huge)
      print("unwinding")
      corral.scope(function() corral.sleep(3600) end, { shield = true })   -- a timer: no deadlock
    ]])
    local pid = math.tointeger(tonumber(p.stdout:read_line()))
    p:kill("INT")
    assert.equal("unwinding", p.stdout:read_line())
    p:kill("INT")
    assert.same({ n = 2, 130, "SIGINT" }, table.pack(p:wait()))
    local ok = pcall(until_dead, pid)
    if not ok then os.execute("kill -9 " .. pid) end
    assert.is_true(ok, "the grandchild was killed before the command died")
    os.remove(path)
  end))

  it("a SIGTERM to a script waiting on its child exits 143 and leaves the child neither running nor a zombie", real(function()
    local p <close>, path = corral_script([[
      local child <close> = corral.exec("/bin/sleep", { "3600" })
      print(child.pid)
      child:wait()
    ]])
    local pid = math.tointeger(tonumber(p.stdout:read_line()))
    p:kill("TERM")
    assert.same({ n = 2, 143, nil }, table.pack(p:wait()))
    local ok = pcall(until_dead, pid)
    if not ok then os.execute("kill -9 " .. pid) end
    assert.is_true(ok, "the grandchild was killed with the script")
    os.remove(path)
  end))

  it("cancelling twenty tasks that each own a process and read its stdout: every child reaped, no fd left", real(function()
    local pids, up = {}, 0
    corral.group(function(g)
      for i = 1, 20 do
        g:spawn(function()
          local p <close> = corral.exec("/bin/sh", { "-c", "echo up; exec sleep 3600" })
          pids[i] = p.pid
          assert.equal("up", p.stdout:read_line())
          up = up + 1
          read_all(p.stdout)
        end)
      end
      while up < 20 do corral.sleep(0.005) end
      blocked()
      g:cancel()
    end)
    for _, pid in ipairs(pids) do until_gone(pid) end
  end))

  it("a child that writes a lot to a stdout nobody reads blocks; closing it kills and reaps it", real(function()
    local p = corral.exec("/bin/sh", { "-c", "head -c 4194304 /dev/zero; echo done >&2" })
    local pid = p.pid
    assert.is_false(corral.move_on_after(0.2, p.wait, p), "it cannot finish with a full pipe")
    assert.is_truthy(proc_state(pid), "still there, blocked in its write")
    p:close()
    until_gone(pid)
  end))

  it("two hundred tasks wait on one process: cancelled together, then all woken by its exit", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    corral.group(function(g)
      for _ = 1, 200 do g:spawn(p.wait, p) end
      blocked()
      g:cancel()
    end)
    local r = {}
    corral.group(function(g)
      for i = 1, 200 do g:spawn(function() r[i] = table.pack(p:wait()) end) end
      blocked()
      p:kill("KILL")
    end)
    assert.equal(200, #r)
    for i = 1, 200 do assert.same({ n = 2, 137, "SIGKILL" }, r[i]) end
  end))

  it("a waiter whose exit was delivered before its cancel gets the exit code; its next checkpoint raises", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    local r, after
    corral.group(function(g)
      local a = g:spawn(function()
        r = table.pack(p:wait())
        after = support.cancelled(corral.checkpoint)
      end)
      blocked()
      p:kill("KILL")
      while tostring(p):find("running", 1, true) do corral.checkpoint() end
      assert.equal("scheduled", a.status)   -- woken by the exit, not yet run
      a:cancel("late")
    end)
    assert.same({ n = 2, 137, "SIGKILL" }, r)
    assert.equal("late", after.reason)
  end))

  it("a signal waiter whose signal was delivered before its cancel gets the name; its next checkpoint raises", real(function()
    local r, after
    corral.group(function(g)
      local a = g:spawn(function()
        r = corral.signal("SIGUSR2")
        after = support.cancelled(corral.checkpoint)
      end)
      blocked()
      send_signal("USR2")
      corral.fail_after(5, function()
        while a.status == "waiting" do corral.checkpoint() end
      end)
      assert.equal("scheduled", a.status)
      a:cancel("late")
    end)
    assert.equal("SIGUSR2", r)
    assert.equal("late", after.reason)
  end))

  it("fifty children started at once and waited each by its own task all report their own status", real(function()
    local r = {}
    corral.group(function(g)
      for i = 1, 50 do
        g:spawn(function()
          local p <close> = corral.exec("/bin/sh", { "-c", "exit " .. i })
          r[i] = p:wait()
        end)
      end
    end)
    for i = 1, 50 do assert.equal(i, r[i]) end
  end))

  it("a write cancelled while a child never reads its stdin closes that stream; the process still closes cleanly", real(function()
    local p <close> = corral.exec("/bin/sleep", { "3600" })
    assert.is_false(corral.move_on_after(0.1, p.stdin.write, p.stdin, ("x"):rep(4 << 20)))
    assert.is_true(p.stdin.closed)
    assert.is_false(p.stdout.closed)
    assert.matches("running", tostring(p))
    p:kill("KILL")
    assert.equal(137, p:wait())
  end))

  it("testing.run's leak check names a process left open, and the run's end still kills and reaps it", function()
    local pid
    local ok, err = pcall(testing.run, function()
      pid = corral.exec("/bin/sleep", { "3600" }).pid
    end, { clock = "real" })
    assert.is_false(ok)
    support.assert_mentions(err, "testing.run: leaked", "1 process")
    assert.is_nil(proc_state(pid), "killed and reaped when the run ended")
  end)

  it("waiting on SIGCHLD wakes on child exits and takes no exit status from p:wait", real(function()
    local wakes = 0
    corral.group(function(g)
      g:spawn(function()
        while true do
          corral.signal("SIGCHLD")
          wakes = wakes + 1
        end
      end)
      blocked()
      for i = 1, 5 do
        local p <close> = corral.exec("/bin/sh", { "-c", "exit " .. i })
        assert.equal(i, p:wait())
      end
      let_loop_turn()
      g:cancel()
    end)
    assert.is_true(wakes >= 1, "the SIGCHLD waiter woke")
    local p <close> = corral.exec("/bin/sh", { "-c", "exit 9" })
    assert.equal(9, p:wait())                -- nobody waits on SIGCHLD now
  end))

  it("a child's pipes refuse the wrong direction with plain errors", real(function()
    local p <close> = corral.exec("/bin/cat", {})
    for _, call in ipairs({
      { p.stdin, "read" }, { p.stdin, "read_line" }, { p.stdout, "write", "x" }, { p.stdout, "shutdown" },
      { p.stderr, "write", "x" },
    }) do
      local e = support.raises(call[1][call[2]], call[1], table.unpack(call, 3))
      assert.equal("string", type(e))
      support.assert_mentions(e, "stream:" .. call[2] .. ": this pipe only carries data")
    end
    p.stdin:shutdown()
    assert.equal(0, p:wait())
  end))

  it("corral.run(fn, {signals = true}) under lua5.4: a SIGINT cancels the root, kills its child, and run raises the signal's Cancelled", real(function()
    local env = { LUA_CPATH = package.cpath, LUA_PATH = package.path, PATH = os.getenv("PATH") }
    for _, name in ipairs({ "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }) do env[name] = os.getenv(name) end
    local p <close> = corral.exec(LUA, { "-e", [[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      local ok, e = pcall(corral.run, function()
        local c <close> = corral.exec("/bin/sleep", { "3600" })
        print(c.pid)
        c:wait()
      end, { signals = true })
      print(tostring(ok) .. " " .. tostring(corral.is_cancelled(e)) .. " " .. e.source .. " " .. e.reason)
    ]] }, { env = env })
    local pid = math.tointeger(tonumber(p.stdout:read_line()))
    p:kill("INT")
    local out, err, code = communicate(p)
    assert.same({ "false true signal SIGINT\n", "", 0 }, { out, err, code })
    assert.is_nil(proc_state(pid), "the run killed and reaped its child before returning")
  end))

  it("a child inherits none of corral's descriptors: its loop, signal pipe, sockets, other children's pipes", function()
    -- every fd number below 1024 this process has open (no gap rule: a parent's fd may sit high)
    local function all_fds()
      local set = {}
      for fd = 0, 1023 do
        local f = io.open("/proc/self/fdinfo/" .. fd)
        if f then f:close(); set[fd] = true end
      end
      return set
    end
    local baseline = all_fds()
    real(function()
      local other <close> = corral.exec("/bin/sleep", { "3600" })
      assert.is_false(corral.move_on_after(0.01, corral.signal, "SIGUSR1"))
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local ours = {}
      for fd in pairs(all_fds()) do
        if not baseline[fd] then ours[#ours + 1] = fd end
      end
      assert.is_true(#ours >= 5, "the loop, the pipes and the listener are open")
      -- the child tests each number with stat (`[ -e ]`), opening nothing itself
      local p <close> = corral.exec("/bin/sh", { "-c",
        'n=0; while [ $n -lt 1024 ]; do [ -e /proc/$$/fd/$n ] && echo $n; n=$((n+1)); done' })
      local out, _, code = communicate(p)
      assert.equal(0, code)
      local leaked = {}
      for _, fd in ipairs(ours) do
        if out:find("%f[%d]" .. fd .. "%f[^%d]") and fd > 2 then leaked[#leaked + 1] = fd end
      end
      assert.same({}, leaked, "fds of this run open in the child")
      other:kill("KILL")
      other:wait()
    end)()
  end)
end)
