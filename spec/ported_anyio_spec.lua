-- spec/ported_anyio_spec.lua: AnyIO's own tests (tests/test_taskgroups.py,
-- tests/test_synchronization.py, tests/streams/test_memory.py), ported to corral's
-- Lua API under the virtual clock. One `it` per AnyIO test, named after it.
--
-- Translation: create_task_group -> corral.group, start_soon -> g:spawn, start ->
-- g:start (task_status.started(v) -> ready(v)), tg.cancel_scope.cancel() ->
-- g:cancel(), CancelScope -> corral.scope, move_on_after/fail_after -> corral.scope
-- with a timeout when the test reads the scope's flags (corral's timeouts do not
-- hand their scope out), else corral.move_on_after/fail_after; `try: ... finally:`
-- -> a pcall; wait_all_tasks_blocked -> testing.wait_all_tasks_blocked; memory
-- object streams -> corral.channel (one object for both ends); the *_nowait calls ->
-- try_send/try_recv/try_acquire; statistics() -> the waiting counts.
--
-- Tests already ported elsewhere (spec/ported_taskgroups_spec.lua,
-- spec/ported_sync_spec.lua) are not repeated here.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun = support.vrun
local blocked = testing.wait_all_tasks_blocked

local function eg_of(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected a failure")
  assert.is_true(corral.is_error_group(e), "expected an ErrorGroup, got " .. tostring(e))
  return e
end

-- AnyIO's async_error: sleep, then raise `text` whatever happened (a `finally`).
local function async_error(text, delay)
  delay = delay or 0.1
  if delay > 0 then pcall(corral.sleep, delay) end
  error(text, 0)
end

local function sorted(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = tostring(v) end
  table.sort(copy)
  return copy
end

describe("AnyIO tests/test_taskgroups.py", function()
  it("test_already_closed: spawning into a group that has exited raises and runs nothing", function()
    vrun(function()
      local tg
      corral.group(function(g) tg = g end)
      local ran = false
      local ok, e = pcall(tg.spawn, tg, function() ran = true end)
      assert.is_false(ok)
      assert.matches("group is closed", e)
      corral.sleep(1)
      assert.is_false(ran)
    end)
  end)

  it("test_success: every child runs to the end before the group returns", function()
    vrun(function()
      local results = {}
      corral.group(function(tg)
        tg:spawn(function(v) results[#results + 1] = v end, "a")
        tg:spawn(function(v) results[#results + 1] = v end, "b")
      end)
      assert.same({ "a", "b" }, sorted(results))
    end)
  end)

  it("test_start_soon_while_running: a child spawns into its own group, and the group waits for it", function()
    vrun(function()
      local done = false
      corral.group(function(tg)
        tg:spawn(function() tg:spawn(function() corral.sleep(0); done = true end) end)
      end)
      assert.is_true(done)
    end)
  end)

  it("test_start_soon_after_error: a group that failed in its body is closed to spawns", function()
    vrun(function()
      local tg
      local e = eg_of(corral.group, function(g) tg = g; error("ZeroDivisionError", 0) end)
      assert.same({ "ZeroDivisionError" }, e.errors)
      local ok, err = pcall(tg.spawn, tg, corral.sleep, 0)
      assert.is_false(ok)
      assert.matches("group is closed", err)
    end)
  end)

  it("test_start_already_closed: start into a group that has exited raises", function()
    vrun(function()
      local tg
      corral.group(function(g) tg = g end)
      local ran = false
      local ok, err = pcall(tg.start, tg, function(ready) ran = true; ready() end)
      assert.is_false(ok)
      assert.matches("group is closed", err)
      assert.is_false(ran)
    end)
  end)

  it("test_start_no_value: ready() with no value makes start return nil", function()
    vrun(function()
      corral.group(function(tg)
        local n, v = select("#", tg:start(function(ready) ready() end)), tg:start(function(ready) ready() end)
        assert.equal(1, n)
        assert.is_nil(v)
      end)
    end)
  end)

  it("test_start_called_twice: a second ready raises in the child, and start still returns", function()
    vrun(function()
      local second_ok, second_err
      corral.group(function(tg)
        local v = tg:start(function(ready)
          ready()
          second_ok, second_err = pcall(ready)
        end)
        assert.is_nil(v)
      end)
      assert.is_false(second_ok)
      assert.matches("called twice", second_err)
    end)
  end)

  it("test_no_called_started_twice: start into a group cancelled first runs the child and raises nothing", function()
    vrun(function()
      local ran, after = false, false
      corral.group(function(tg)
        tg:cancel()
        tg:start(function(ready) ran = true; ready() end)
        after = true
      end)
      assert.is_true(ran)
      assert.is_false(after)
    end)
  end)

  it("test_start_with_value: start returns the value given to ready", function()
    vrun(function()
      corral.group(function(tg)
        assert.equal("foo", tg:start(function(ready) ready("foo") end))
      end)
    end)
  end)

  it("test_start_crash_before_started_call: start raises the child's error; the group does not", function()
    vrun(function()
      local ok, e
      corral.group(function(tg)
        ok, e = pcall(tg.start, tg, function() error("foo", 0) end)
      end)
      assert.is_false(ok)
      assert.equal("foo", e)
    end)
  end)

  it("test_start_crash_after_started_call: a failure after ready is the group's, and start returned", function()
    vrun(function()
      local value
      local e = eg_of(corral.group, function(tg)
        value = tg:start(function(ready) ready(2); error("foo", 0) end)
      end)
      assert.equal(1, #e)
      assert.equal("foo", e.errors[1])
      assert.equal(2, value)
    end)
  end)

  it("test_start_no_started_call: a child that returns without ready makes start raise", function()
    vrun(function()
      local ok, e
      corral.group(function(tg)
        ok, e = pcall(tg.start, tg, function() end)
      end)
      assert.is_false(ok)
      assert.matches("finished without calling ready", e)
    end)
  end)

  it("test_start_cancelled: start into a cancelled group runs the child up to its first cancellation point", function()
    vrun(function()
      local started, finished = false, false
      corral.group(function(tg)
        tg:cancel()
        tg:start(function()
          started = true
          corral.sleep(2)
          finished = true
        end)
      end)
      assert.is_true(started)
      assert.is_false(finished)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_start_native_host_cancelled: cancelling the task waiting in start cancels the child", function()
    vrun(function()
      local started, finished = false, false
      corral.group(function(outer)
        local host = outer:spawn(function()
          corral.group(function(tg)
            tg:start(function() started = true; corral.sleep(2); finished = true end)
          end)
        end)
        blocked()
        host:cancel()
        local ok, c = host:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
      end)
      assert.is_true(started)
      assert.is_false(finished)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_start_native_child_cancelled: cancelling the starting child ends it; start does not hang", function()
    vrun(function()
      local task, finished = nil, false
      local ok, e
      corral.group(function(tg)
        tg:spawn(function()
          corral.group(function(tg2)
            ok, e = pcall(tg2.start, tg2, function()
              task = corral.current_task()
              corral.sleep(2)
              finished = true
            end)
          end)
        end)
        blocked()
        assert.is_not_nil(task)
        task:cancel()
      end)
      assert.is_false(finished)
      assert.equal("cancelled", task.status)
      -- corral: the caller is not cancelled, so start raises a plain error
      -- (docs/api.md, Fine points, "A g:start child before ready")
      assert.is_false(ok)
      assert.matches("cancelled before it called ready", tostring(e))
      assert.equal(0, corral.now())
    end)
  end)

  it("test_propagate_native_cancellation_from_taskgroup: a task cancelled inside its group ends cancelled", function()
    vrun(function()
      corral.group(function(outer)
        local t = outer:spawn(function()
          corral.group(function(tg) tg:spawn(corral.sleep, 2) end)
        end)
        blocked()
        t:cancel()
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("cancelled", t.status)
      end)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_cancel_with_nested_task_groups (#695): an outer cancel leaves a shielded grandchild's sleep alone", function()
    vrun(function()
      local shielded_done, middle_after = false, false
      local shield_task
      corral.group(function(tg)
        tg:spawn({ function()
          corral.group(function(mid)
            shield_task = mid:spawn({ function()
              corral.scope(function() corral.sleep(0.5); shielded_done = corral.now() end, { shield = true })
            end, name = "shield task" })
          end)
          -- the shielded child returned, so the group returns (docs/api.md,
          -- Groups: "the group returns normally ... the next cancellation
          -- point raises it")
          middle_after = pcall(corral.checkpoint)
        end, name = "middle task" })
        blocked()
        tg:cancel()
        -- AnyIO counts deliveries of the cancel; here: the cancel does not even
        -- wake the shielded task (a woken task reads "scheduled")
        assert.equal("waiting", shield_task.status)
      end)
      assert.equal(0.5, shielded_done)
      assert.equal(0.5, corral.now())
      assert.is_false(middle_after)
    end)
  end)

  it("test_host_exception: a body failure cancels the children and is raised alone", function()
    vrun(function()
      local result
      local e = eg_of(corral.group, function(tg)
        tg:spawn(function(v) corral.sleep(3); result = v end, "a")
        error("dummy error", 0)
      end)
      assert.equal(1, #e)
      assert.equal("dummy error", e.errors[1])
      assert.is_nil(result)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_level_cancellation: a child spawned before the cancel runs up to its first checkpoint", function()
    vrun(function()
      local marker
      corral.group(function(tg)
        tg:spawn(function() marker = 1; corral.checkpoint(); marker = 2 end)
        assert.is_nil(marker)
        tg:cancel()
      end)
      assert.equal(1, marker)
    end)
  end)

  it("test_cancel: g:cancel() stops a child at its first checkpoint and the group returns", function()
    vrun(function()
      local started, reached = false, false
      local returned, grp = false, nil
      corral.group(function(tg)
        grp = tg
        tg:spawn(function() started = true; corral.checkpoint(); reached = true end)
        assert.is_false(started)
        tg:cancel()
      end)
      returned = true
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
      assert.is_true(started)
      assert.is_false(reached)
      assert.is_true(returned)
    end)
  end)

  it("test_cancel_with_reason: the body's next checkpoint raises a Cancelled with that reason", function()
    vrun(function()
      local c
      corral.group(function(tg)
        tg:cancel("test reason")
        local ok
        ok, c = pcall(corral.checkpoint)
        assert.is_false(ok)
        error(c, 0)
      end)
      assert.is_true(corral.is_cancelled(c))
      assert.equal("test reason", c.reason)
      assert.matches("test reason", tostring(c))
    end)
  end)

  it("test_failing_child_task_cancels_host: a child failure interrupts the body's sleep", function()
    vrun(function()
      local sleep_completed = false
      local e = eg_of(corral.group, function(tg)
        tg:spawn(function() blocked(); error("foo", 0) end)
        corral.sleep(0.5)
        sleep_completed = true
      end)
      assert.same({ "foo" }, e.errors)
      assert.is_false(sleep_completed)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_failing_host_task_cancels_children: a body failure interrupts a child's sleep", function()
    vrun(function()
      local sleep_completed = false
      local e = eg_of(corral.group, function(tg)
        tg:spawn(function() corral.sleep(1); sleep_completed = true end)
        blocked()
        error("foo", 0)
      end)
      assert.same({ "foo" }, e.errors)
      assert.is_false(sleep_completed)
    end)
  end)

  it("test_cancel_scope_in_another_task: a scope cancelled from another task ends its body", function()
    vrun(function()
      local local_scope, result = nil, false
      corral.group(function(tg)
        tg:spawn(function()
          corral.scope(function(s) local_scope = s; corral.sleep(2); result = true end)
        end)
        while local_scope == nil do corral.checkpoint() end
        local_scope:cancel()
      end)
      assert.is_false(result)
      assert.is_true(local_scope.cancel_caught)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_cancel_propagation: an outer group cancel reaches the body of a nested group", function()
    vrun(function()
      local reached = false
      corral.group(function(tg)
        tg:spawn(function()
          corral.group(function() corral.sleep(1) end)
          reached = true
        end)
        corral.checkpoint()
        tg:cancel()
      end)
      assert.is_false(reached)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_cancel_twice: the same task receives two group cancellations in a row", function()
    vrun(function()
      local reached = 0
      for _ = 1, 2 do
        corral.group(function(tg)
          tg:spawn(function() blocked(); tg:cancel() end)
          corral.sleep(1)
          reached = reached + 1
        end)
      end
      assert.equal(0, reached)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_exception_group_children: two failing children are both collected", function()
    vrun(function()
      local e = eg_of(corral.group, function(tg)
        tg:spawn(async_error, "task1")
        tg:spawn(async_error, "task2", 0.15)
      end)
      assert.equal(2, #e)
      assert.same({ "task1", "task2" }, sorted(e.errors))
    end)
  end)

  it("test_exception_group_host: a child failure and the body's are both collected", function()
    vrun(function()
      local e = eg_of(corral.group, function(tg)
        tg:spawn(async_error, "child", 2)
        blocked()
        error("host", 0)
      end)
      assert.equal(2, #e)
      assert.same({ "child", "host" }, sorted(e.errors))
    end)
  end)

  it("test_escaping_cancelled_exception: a cancelled group's Cancelled stays inside it", function()
    vrun(function()
      local after, grp = false, nil
      corral.group(function(tg)
        grp = tg
        tg:cancel()
        corral.checkpoint()
        error("not reached")
      end)
      after = true
      assert.is_true(grp.cancel_caught)
      corral.checkpoint()
      assert.is_true(after)
    end)
  end)

  it("test_cancel_scope_cleared: after a timeout fired, the next checkpoint does not raise", function()
    vrun(function()
      assert.is_false(corral.move_on_after(0.1, corral.sleep, 1))
      assert.is_true(pcall(corral.checkpoint))
      assert.equal(0.1, corral.now())
    end)
  end)

  for _, delay in ipairs({ 0, 0.1 }) do
    local id = delay == 0 and "instant" or "delayed"
    it("test_fail_after[" .. id .. "]: the body sees a deadline Cancelled, the caller a Timeout", function()
      vrun(function()
        local seen
        local ok, e = pcall(corral.fail_after, delay, function()
          local ok2, c = pcall(corral.sleep, 1)
          assert.is_false(ok2, "sleep() should have raised a cancellation")
          seen = c
          error(c, 0)
        end)
        assert.is_false(ok)
        assert.is_true(corral.is_timeout(e), tostring(e))
        assert.is_true(corral.is_cancelled(seen))
        assert.equal("deadline", seen.source)
        assert.matches("deadline", tostring(seen))
        assert.equal(delay, corral.now())
        -- the scope's flags, through corral.scope (fail_after hides its scope)
        local sc
        corral.scope(function(s) sc = s; corral.sleep(1) end, { timeout = delay })
        assert.is_true(sc.cancel_called)
        assert.is_true(sc.cancel_caught)
      end)
    end)
  end

  it("test_fail_after_no_timeout: an infinite timeout never fires", function()
    vrun(function()
      assert.equal(7, corral.fail_after(math.huge, function() corral.sleep(0.1); return 7 end))
      local sc
      corral.scope(function(s)
        sc = s
        assert.equal(math.huge, s.deadline)
        corral.sleep(0.1)
      end, { timeout = math.huge })
      assert.is_false(sc.cancel_called)
      assert.is_false(sc.cancel_caught)
    end)
  end)

  it("test_fail_after_after_cancellation: an absorbed group cancel does not leak into a later fail_after", function()
    vrun(function()
      local ev = corral.event()
      corral.group(function(tg)
        tg:cancel()
        ev:wait()
      end)
      local block_complete = false
      local ok, e = pcall(corral.fail_after, 0.1, function()
        corral.sleep(0.5)
        block_complete = true
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_timeout(e), tostring(e))
      assert.is_false(block_complete)
      assert.equal(0.1, corral.now())
    end)
  end)

  it("test_fail_after_scope_cancelled_before_timeout (an xfail in AnyIO): an explicit cancel before the deadline passed says so", function()
    -- AnyIO cannot tell the two apart; corral's Cancelled carries its source, and a
    -- scope is cancelled once (docs/api.md, g:cancel), so the first cancel counts.
    vrun(function()
      local c, sc
      corral.scope(function(s)
        sc = s
        s:cancel("by hand")
        s.deadline = corral.now()
        local ok
        ok, c = pcall(corral.checkpoint)
        error(c, 0)
      end, { timeout = 0.1 })
      assert.equal("explicit", c.source)
      assert.equal("by hand", c.reason)
      assert.is_true(sc.cancel_caught)
    end)
    corral.run(function()       -- the literal test: time passes while the body computes
      local c
      corral.scope(function(s)
        s:cancel("by hand")
        local t0 = corral.now()
        while corral.now() - t0 < 0.03 do end
        local ok
        ok, c = pcall(corral.checkpoint)
        error(c, 0)
      end, { timeout = 0.02 })
      assert.equal("explicit", c.source)
    end)
  end)

  for _, delay in ipairs({ 0, 0.1 }) do
    local id = delay == 0 and "instant" or "delayed"
    it("test_move_on_after[" .. id .. "]: the body is cut short and the scope caught it", function()
      vrun(function()
        local result = false
        assert.is_false(corral.move_on_after(delay, function() corral.sleep(1); result = true end))
        assert.is_false(result)
        local sc
        corral.scope(function(s) sc = s; corral.sleep(1); result = true end, { timeout = delay })
        assert.is_false(result)
        assert.is_true(sc.cancel_called)
        assert.is_true(sc.cancel_caught)
        assert.equal(2 * delay, corral.now())
      end)
    end)
  end

  it("test_move_on_after_no_timeout: an infinite timeout lets the body finish", function()
    vrun(function()
      local result = false
      assert.same({ true, 5 }, { corral.move_on_after(math.huge, function()
        corral.sleep(0.1); result = true; return 5
      end) })
      assert.is_true(result)
      local sc
      corral.scope(function(s) sc = s; assert.equal(math.huge, s.deadline); corral.sleep(0.1) end,
        { timeout = math.huge })
      assert.is_false(sc.cancel_called)
    end)
  end)

  it("test_nested_move_on_after: the earlier outer deadline fires; the inner scope is untouched", function()
    vrun(function()
      local sleep_completed, inner_completed = false, false
      local outer, inner
      corral.scope(function(o)
        outer = o
        corral.scope(function(i)
          inner = i
          corral.sleep(2)
          sleep_completed = true
        end, { timeout = 1 })
        inner_completed = true
      end, { timeout = 0.1 })
      assert.is_false(sleep_completed)
      assert.is_false(inner_completed)
      assert.is_true(outer.cancel_called)
      assert.is_true(outer.cancel_caught)
      assert.is_false(inner.cancel_called)
      assert.is_false(inner.cancel_caught)
      assert.equal(0.1, corral.now())
    end)
  end)

  for _, delay in ipairs({ 0, 0.1 }) do
    local id = delay == 0 and "instant" or "delayed"
    it("test_fail_at[" .. id .. "]: an absolute deadline raises Timeout, the body a deadline Cancelled", function()
      vrun(function()
        corral.sleep(1)
        local seen
        local ok, e = pcall(corral.fail_at, corral.now() + delay, function()
          local ok2, c = pcall(corral.sleep, 1)
          assert.is_false(ok2)
          seen = c
          error(c, 0)
        end)
        assert.is_false(ok)
        assert.is_true(corral.is_timeout(e), tostring(e))
        assert.equal("deadline", seen.source)
        assert.equal(1 + delay, corral.now())
        local sc
        corral.scope(function(s) sc = s; corral.sleep(1) end, { deadline = corral.now() + delay })
        assert.is_true(sc.cancel_called)
        assert.is_true(sc.cancel_caught)
      end)
    end)

    it("test_move_on_at[" .. id .. "]: an absolute deadline cuts the body short", function()
      vrun(function()
        corral.sleep(1)
        local result = false
        assert.is_false(corral.move_on_at(corral.now() + delay, function() corral.sleep(1); result = true end))
        assert.is_false(result)
        assert.equal(1 + delay, corral.now())
      end)
    end)
  end

  it("test_fail_at_no_timeout / test_move_on_at_no_timeout: a deadline of math.huge never fires", function()
    vrun(function()
      assert.equal(3, corral.fail_at(math.huge, function() corral.sleep(0.1); return 3 end))
      assert.same({ true, 4 }, { corral.move_on_at(math.huge, function() corral.sleep(0.1); return 4 end) })
      local sc
      corral.scope(function(s) sc = s; assert.equal(math.huge, s.deadline); corral.sleep(0.1) end,
        { deadline = math.huge })
      assert.is_false(sc.cancel_called)
      assert.is_false(sc.cancel_caught)
      assert.equal(0.1 + 0.1 + 0.1, corral.now())
    end)
  end)

  it("test_shielding: a shielded timeout scope finishes its sleep under a group cancel", function()
    vrun(function()
      local inner_done, outer_done = false, false
      local inner, grp
      corral.group(function(tg)
        grp = tg
        tg:spawn(function() blocked(); tg:cancel() end)
        corral.scope(function(s)
          inner = s
          assert.is_true(s.shield)
          corral.sleep(0.1)
          inner_done = true
        end, { timeout = 10, shield = true })
        corral.sleep(1)
        outer_done = true
      end)
      assert.is_true(inner_done)
      assert.is_false(outer_done)
      assert.is_true(grp.cancel_called)
      assert.is_false(inner.cancel_called)
      assert.equal(0.1, corral.now())
    end)
  end)

  it("test_cancel_from_shielded_scope: a cancel issued under a shield is delivered after it, every time", function()
    vrun(function()
      local shielded_ok, raised = nil, 0
      corral.group(function(tg)
        corral.scope(function(s)
          assert.is_true(s.shield)
          tg:cancel()
          shielded_ok = pcall(corral.checkpoint)
        end, { shield = true })
        for _ = 1, 2 do
          local ok, c = pcall(corral.sleep, 0.01)
          if not ok and corral.is_cancelled(c) then raised = raised + 1 end
        end
      end)
      assert.is_true(shielded_ok)
      assert.equal(2, raised)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_cancel_shielded_scope: a shield does not hide the scope's own cancel", function()
    vrun(function()
      local sc, ok, c
      corral.scope(function(s)
        sc = s
        assert.is_true(s.shield)
        s:cancel()
        ok, c = pcall(corral.checkpoint)
        error(c, 0)
      end, { shield = true })
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.is_true(sc.cancel_caught)
    end)
  end)

  it("test_shielded_cleanup_after_cancel (#832): a shield in cleanup hides the cancel only inside it", function()
    vrun(function()
      local before, inside, after
      corral.scope(function(outer)
        outer:cancel()
        local ok, c = pcall(corral.checkpoint)
        assert.is_false(ok)
        before = pcall(corral.checkpoint)
        corral.scope(function() inside = pcall(corral.checkpoint) end, { shield = true })
        after = pcall(corral.checkpoint)
        error(c, 0)
      end)
      assert.is_false(before)
      assert.is_true(inside)
      assert.is_false(after)
    end)
  end)

  it("test_cancelled_not_caught: a scope cancelled without a checkpoint did not catch anything", function()
    vrun(function()
      local sc
      corral.scope(function(s) sc = s; s:cancel() end)
      assert.is_true(sc.cancel_called)
      assert.is_false(sc.cancel_caught)
    end)
  end)

  it("test_cancelled_scope_based_checkpoint (#698): the outer cancelled scope catches, not the inner", function()
    vrun(function()
      local inner, outer, reached = nil, nil, false
      corral.scope(function(o)
        outer = o
        o:cancel()
        corral.scope(function(i)
          inner = i
          i:cancel()
          corral.sleep(math.huge)
        end)
        reached = true
      end)
      assert.is_false(reached)
      assert.is_false(inner.cancel_caught)
      assert.is_true(outer.cancel_caught)
    end)
  end)

  it("test_shielding_immediate_scope_cancelled: another task's cancel of a shielded scope ends its sleep", function()
    vrun(function()
      local sleep_completed = false
      corral.group(function(tg)
        corral.scope(function(s)
          tg:spawn(function() blocked(); s:cancel() end)
          corral.sleep(0.5)
          sleep_completed = true
        end, { shield = true })
      end)
      assert.is_false(sleep_completed)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_shielding_mutate: a shield set and cleared while running holds off, then lets in, the cancel", function()
    vrun(function()
      local completed, reached = false, false
      corral.group(function(tg)
        tg:start(function(ready)
          corral.scope(function(s)
            corral.sleep(0.1)
            s.shield = true
            ready()
            corral.sleep(0.1)
            completed = true
            s.shield = false
            corral.sleep(1)
            reached = true
          end)
          reached = true
        end)
        tg:cancel()
      end)
      assert.is_true(completed)
      assert.is_false(reached)
      assert.equal(0.2, corral.now())
    end)
  end)

  it("test_cancel_scope_in_child_task: cancelling a child's scope leaves the group alone", function()
    vrun(function()
      local child_scope, host_done, grp = nil, false, nil
      corral.group(function(tg)
        grp = tg
        tg:spawn(function() corral.scope(function(s) child_scope = s; corral.sleep(2) end) end)
        blocked()
        assert.is_not_nil(child_scope)
        child_scope:cancel()
        corral.sleep(0.1)
        host_done = true
      end)
      assert.is_true(host_done)
      assert.is_false(grp.cancel_called)
      assert.is_true(child_scope.cancel_caught)
      assert.equal(0.1, corral.now())
    end)
  end)

  it("test_exception_cancels_siblings: a failing child cancels a sleeping sibling", function()
    vrun(function()
      local sleep_completed = false
      local e = eg_of(corral.group, function(tg)
        tg:spawn(function() corral.sleep(1); sleep_completed = true end)
        blocked()
        tg:spawn(function() error("foo", 0) end)
      end)
      assert.same({ "foo" }, e.errors)
      assert.is_false(sleep_completed)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_cancel_cascade: a cancel reaches a child's nested group and ends that child", function()
    vrun(function()
      local reached = false
      corral.group(function(tg)
        tg:spawn({ function()
          corral.group(function(tg2) tg2:spawn({ corral.sleep, name = "sleep" }, 1) end)
          reached = true
        end, name = "do_something" })
        blocked()
        tg:cancel()
      end)
      assert.is_false(reached)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_shielded_deadline: a shield hides an outer deadline from an inner, later one", function()
    vrun(function()
      local done = false
      corral.move_on_after(10, function()
        corral.scope(function()
          corral.move_on_after(1000, function() corral.sleep(20); done = true end)
        end, { shield = true })
      end)
      assert.is_true(done)
      assert.equal(20, corral.now())
    end)
  end)

  it("test_deadline_reached_on_start: move_on_after(0) raises at the first checkpoint", function()
    vrun(function()
      local reached = false
      assert.is_false(corral.move_on_after(0, function() corral.checkpoint(); reached = true end))
      assert.is_false(reached)
    end)
  end)

  it("test_deadline_moved: moving a deadline later lets the body finish", function()
    vrun(function()
      local done, sc = false, nil
      corral.scope(function(s)
        sc = s
        s.deadline = s.deadline + 0.3
        corral.sleep(0.2)
        done = true
      end, { timeout = 0.1 })
      assert.is_true(done)
      assert.is_false(sc.cancel_called)
      assert.equal(0.2, corral.now())
    end)
  end)

  it("test_timeout_error_with_multiple_cancellations: a timeout around a group raises Timeout", function()
    vrun(function()
      local ok, e = pcall(corral.fail_after, 0.1, function()
        corral.group(function(tg)
          tg:spawn(corral.sleep, 2)
          corral.sleep(2)
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_timeout(e), tostring(e))
      assert.equal(0.1, corral.now())
    end)
  end)

  it("test_nested_fail_after: an outer scope's cancel passes through fail_after without a Timeout", function()
    vrun(function()
      local reached, sc = {}, nil
      corral.group(function(tg)
        corral.scope(function(s)
          sc = s
          corral.scope(function()
            tg:spawn(function() blocked(); s:cancel() end)
            corral.fail_after(1, function() corral.sleep(2); reached[1] = true end)
            reached[2] = true
          end)
          reached[3] = true
        end)
      end)
      assert.is_nil(next(reached))
      assert.is_true(sc.cancel_called)
      assert.is_true(sc.cancel_caught)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_nested_shield: a Timeout inside a shield that an outer cancel could not reach fails the group", function()
    vrun(function()
      local e = eg_of(corral.group, function(tg)
        corral.scope(function(s)
          corral.scope(function()
            tg:spawn(function() blocked(); s:cancel() end)
            corral.fail_after(0.2, corral.sleep, 2)
          end, { shield = true })
        end)
      end)
      assert.equal(1, #e)
      assert.is_true(corral.is_timeout(e.errors[1]), tostring(e.errors[1]))
      assert.equal(0.2, corral.now())
    end)
  end)

  it("test_nested_task_group_filtering #fifo: no Cancelled in nested ErrorGroups, nesting kept", function()
    vrun(function()
      local function fail(name)
        pcall(corral.sleep, 0.1)
        error(name .. " task failed", 0)
      end
      local e = eg_of(corral.group, function(tg)
        tg:spawn(fail, "parent")
        corral.group(function(tg2)
          tg2:spawn(fail, "child")
          corral.sleep(1)
        end)
      end)
      assert.equal(2, #e)
      assert.equal("parent task failed", e.errors[1])
      assert.is_true(corral.is_error_group(e.errors[2]))
      assert.equal(1, #e.errors[2])
      assert.equal("child task failed", e.errors[2].errors[1])
    end)
  end)

  it("test_cancel_native_future_tasks(_cancel_scope): a task blocked for good is cancelled by its group", function()
    vrun(function()
      for _, scoped in ipairs({ false, true }) do
        local t
        corral.group(function(tg)
          t = tg:spawn(function()
            local ev = corral.event()
            if scoped then corral.scope(function() ev:wait() end) else ev:wait() end
          end)
          tg:cancel()
        end)
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("cancelled", t.status)
      end
    end)
  end)

  it("test_cancel_completed_task: cancelling a group whose child returns at once reports nothing", function()
    vrun(function()
      local t, grp
      corral.group(function(tg)
        grp = tg
        t = tg:spawn(function() return "noop" end)
        tg:cancel()
      end)
      assert.is_false(grp.cancel_caught)
      assert.equal("done", t.status)
      assert.same({ true, "noop" }, { t:wait() })
    end)
  end)

  it("test_shielded_cancel_sleep_time: waiting for a shielded child costs no CPU", function()
    vrun(function()
      local ev = corral.event()
      local spent
      corral.group(function(outer)
        outer:spawn(function() corral.sleep(0.2); ev:set() end)
        local c0 = os.clock()
        corral.group(function(tg)
          tg:spawn(function()
            corral.scope(function() corral.sleep(0.2); ev:wait() end, { shield = true })
          end)
          tg:cancel()
        end)
        spent = os.clock() - c0
      end)
      assert.is_true(spent < 0.1, "spent " .. spent .. " s of CPU")
      assert.equal(0.2, corral.now())
    end)
  end)

  it("test_single_cancellation_exc: a group cancelled from outside raises a bare Cancelled", function()
    vrun(function()
      local got, sc
      corral.scope(function(outer)
        sc = outer
        local ok, e = pcall(corral.group, function(tg)
          tg:spawn(corral.sleep, 5)
          blocked()
          outer:cancel()
          corral.sleep(5)
        end)
        assert.is_false(ok)
        got = e
        error(e, 0)
      end)
      assert.is_true(corral.is_cancelled(got), "got " .. tostring(got))
      assert.is_true(sc.cancel_caught)
      assert.equal(0, corral.now())
    end)
  end)

  it("TestUncancel.test_uncancel_after_scope_cancel: nothing is pending after a scope caught its cancel", function()
    vrun(function()
      local sc
      corral.scope(function(s) sc = s; s:cancel(); corral.checkpoint() end)
      assert.is_true(sc.cancel_caught)
      assert.is_true(pcall(corral.checkpoint))
    end)
  end)

  it("TestUncancel.test_cancel_counter_nested_scopes: an outer cancel caught outside leaves nothing pending", function()
    vrun(function()
      local root
      corral.scope(function(r)
        root = r
        corral.scope(function() r:cancel(); corral.checkpoint() end)
      end)
      assert.is_true(root.cancel_caught)
      assert.is_true(pcall(corral.checkpoint))
    end)
  end)

  it("TestUncancel.test_uncancel_after_taskgroup_cancelled: a task cancelled after a start ends cancelled", function()
    vrun(function()
      corral.group(function(outer)
        local host = outer:spawn(function()
          corral.group(function(tg)
            tg:start(function(ready)
              corral.group(function(inner)
                inner:spawn(corral.sleep, 3)
                blocked()
                ready()
              end)
            end)
            corral.current_task():cancel()
            corral.checkpoint()
          end)
        end)
        local ok, c = host:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("cancelled", host.status)
      end)
      assert.equal(0, corral.now())
    end)
  end)

  it("TestUncancel.test_uncancel_after_group_aexit_native_cancel: two cancels of a task waiting for a shielded child", function()
    vrun(function()
      local done = corral.event()
      local shielded_finished = false
      local t
      corral.group(function(outer)
        t = outer:spawn(function()
          corral.group(function(tg)
            tg:spawn(function()
              corral.scope(function() done:wait(); shielded_finished = true end, { shield = true })
            end)
          end)
        end)
        blocked()
        t:cancel("native 1")
        corral.sleep(0.1)
        t:cancel("native 2")
        done:set()
      end)
      local ok, c = t:wait()
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.is_true(shielded_finished)
      -- corral: a scope (and a task) is cancelled once; the first reason stays
      -- (docs/api.md, g:cancel: "the Cancelled keeps the first cancel's reason")
      assert.equal("native 1", c.reason)
    end)
  end)

  it("TestUncancel.test_uncancel_after_child_task_failed: nothing is pending after a group failed", function()
    vrun(function()
      local e = eg_of(corral.group, function(tg) tg:spawn(function() error("dummy error", 0) end) end)
      assert.same({ "dummy error" }, e.errors)
      assert.is_true(pcall(corral.checkpoint))
    end)
  end)

  it("TestUncancel.test_uncancel_cancelled_scope_based_checkpoint: the cancel ends with the outer scope", function()
    vrun(function()
      local inside_pending, outer
      corral.scope(function(o)
        outer = o
        o:cancel()
        local ok, c = pcall(corral.scope, function(i) i:cancel(); corral.sleep(math.huge) end)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        inside_pending = not pcall(corral.checkpoint)
        error(c, 0)
      end)
      assert.is_true(inside_pending)
      assert.is_true(outer.cancel_caught)
      assert.is_true(pcall(corral.checkpoint))
    end)
  end)

  it("test_cancel_before_entering_task_group: entering and leaving a group in a cancelled scope raises nothing", function()
    vrun(function()
      local ok, e, after
      corral.scope(function(s)
        s:cancel()
        ok, e = pcall(corral.group, function() end)
        after = true
      end)
      assert.is_true(ok, tostring(e))
      assert.is_true(after)
    end)
  end)

  it("TestRefcycles.test_exception_refcycles_errors: a group keeps no reference to the errors it raised", function()
    vrun(function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local ok, eg = pcall(corral.group, function()
          local err = setmetatable({}, { __tostring = function() return "_Done" end })
          weak[1] = err
          error(err, 0)
        end)
        assert.is_false(ok)
        assert.equal(weak[1], eg.errors[1])
      end
      collectgarbage(); collectgarbage()
      assert.is_nil(weak[1])
    end)
  end)

  it("TestRefcycles.test_exception_refcycles_parent_task: a nested group's error is freed once dropped", function()
    vrun(function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local ok, eg = pcall(corral.group, function(tg2)
          tg2:spawn(function()
            corral.group(function()
              local err = {}
              weak[1] = err
              error(err, 0)
            end)
          end)
        end)
        assert.is_false(ok)
        assert.equal(weak[1], eg.errors[1].errors[1])
      end
      collectgarbage(); collectgarbage()
      assert.is_nil(weak[1])
    end)
  end)

  it("test_cancel_reason: a Cancelled names the reason and the task that cancelled", function()
    vrun(function()
      local c
      corral.scope(function(s)
        s:cancel("test reason")
        local ok
        ok, c = pcall(corral.checkpoint)
        error(c, 0)
      end)
      local name = corral.current_task().name
      assert.equal("test reason", c.reason)
      assert.equal(name, c.origin)
      assert.matches("test reason", tostring(c))
      assert.matches(name, tostring(c), 1, true)
    end)
  end)

  it("TestCreateTask.test_return_value: a task's wait gives its results once it has finished", function()
    vrun(function()
      local t
      corral.group(function(tg)
        t = tg:spawn(function(x, y) return x + y end, 2, 4)
        assert.equal("scheduled", t.status)
        assert.same({ true, 6 }, { t:wait() })
        assert.equal("done", t.status)
      end)
      assert.same({ true, 6 }, { t:wait() })
      assert.matches("done", tostring(t))
    end)
  end)

  it("TestCreateTask.test_exception: a failed task's wait gives its error; the group raises it", function()
    vrun(function()
      local t
      local e = eg_of(corral.group, function(tg)
        t = tg:spawn(function() error("dummy error", 0) end)
        local ok, err = t:wait()
        assert.is_false(ok)
        assert.equal("dummy error", err)
        assert.equal("failed", t.status)
      end)
      assert.same({ "dummy error" }, e.errors)
      assert.same({ false, "dummy error" }, { t:wait() })
      assert.matches("failed", tostring(t))
    end)
  end)

  for _, wait_until_running in ipairs({ true, false }) do
    it("TestCreateTask.test_cancel[" .. tostring(wait_until_running) .. "]: a task cancelled at once runs to its first checkpoint", function()
      vrun(function()
        local task_started, t = false, nil
        local ev = corral.event()
        corral.group(function(tg)
          t = tg:spawn(function() task_started = true; ev:wait() end)
          if wait_until_running then blocked() end
          t:cancel()
          local ok, c = t:wait()
          assert.is_false(ok)
          assert.is_true(corral.is_cancelled(c))
        end)
        assert.equal("cancelled", t.status)
        assert.is_true(task_started)
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
      end)
    end)
  end

  it("TestCreateTask.test_wait: waiting on a failing task returns, and again after the group", function()
    vrun(function()
      local t
      eg_of(corral.group, function(tg)
        t = tg:spawn(function() error("dummy error", 0) end)
        assert.equal("scheduled", t.status)
        t:wait()
      end)
      assert.equal("failed", t.status)
      assert.same({ false, "dummy error" }, { t:wait() })
    end)
  end)

  for _, spawner in ipairs({ "spawn", "start" }) do
    it("test_task_name_default[" .. spawner .. "]: an unnamed task is task-<id>", function()
      vrun(function()
        corral.group(function(tg)
          local function taskfunc(ready)
            if ready then ready(corral.current_task().name) end
            return corral.current_task().name
          end
          if spawner == "spawn" then
            local t = tg:spawn(taskfunc)
            local _, name = t:wait()
            assert.equal(t.name, name)
            assert.equal("task-" .. t.id, name)
          else
            local name = tg:start(taskfunc)
            assert.matches("^task%-%d+$", name)
          end
        end)
      end)
    end)

    it("test_task_name_custom_name[" .. spawner .. "]: a task named at " .. spawner .. " carries that name", function()
      vrun(function()
        corral.group(function(tg)
          local function taskfunc(ready)
            if ready then ready(corral.current_task().name) end
            return corral.current_task().name
          end
          if spawner == "spawn" then
            local t = tg:spawn({ taskfunc, name = "custom name" })
            assert.same({ true, "custom name" }, { t:wait() })
            assert.equal("custom name", t.name)
          else
            assert.equal("custom name", tg:start({ taskfunc, name = "custom name" }))
          end
        end)
      end)
    end)
  end
end)

describe("AnyIO tests/test_synchronization.py", function()
  it("TestLock.test_contextmanager: a waiter gets the lock once with's body ends", function()
    vrun(function()
      local results, lock = {}, corral.lock()
      corral.group(function(tg)
        lock:with(function()
          tg:spawn(function()
            assert.is_true(lock.locked)
            lock:with(function() results[#results + 1] = "2" end)
          end)
          blocked()
          results[#results + 1] = "1"
        end)
      end)
      assert.is_false(lock.locked)
      assert.same({ "1", "2" }, results)
    end)
  end)

  it("TestLock.test_manual_acquire: acquire and release in order", function()
    vrun(function()
      local results, lock = {}, corral.lock()
      corral.group(function(tg)
        lock:acquire()
        tg:spawn(function()
          assert.is_true(lock.locked)
          lock:acquire()
          results[#results + 1] = "2"
          lock:release()
        end)
        blocked()
        results[#results + 1] = "1"
        lock:release()
      end)
      assert.is_false(lock.locked)
      assert.same({ "1", "2" }, results)
    end)
  end)

  it("TestLock.test_fast_acquire: an uncontended lock is taken without giving others a turn", function()
    vrun(function()
      local other_called = false
      local lock = corral.lock()
      corral.group(function(tg)
        tg:spawn(function() other_called = true end)
        lock:with(function() assert.is_false(other_called) end)
        lock:acquire()
        assert.is_false(other_called)
        lock:release()
      end)
      assert.is_true(other_called)
    end)
  end)

  it("TestLock.test_acquire_nowait: try_acquire takes a free lock", function()
    vrun(function()
      local lock = corral.lock()
      assert.is_true(lock:try_acquire())
      assert.is_true(lock.locked)
      lock:release()
      assert.is_false(lock.locked)
    end)
  end)

  it("TestLock.test_acquire_nowait_wouldblock: try_acquire of a held lock answers false", function()
    vrun(function()
      local lock, answer = corral.lock(), nil
      lock:with(function()
        corral.group(function(tg)
          assert.is_true(lock.locked)
          tg:spawn(function() answer = lock:try_acquire() end)
        end)
      end)
      assert.is_false(answer)
      assert.is_false(lock.locked)
    end)
  end)

  it("TestLock.test_acquire_twice_async / test_acquire_twice_sync: the holder asking again raises", function()
    vrun(function()
      local lock = corral.lock()
      lock:acquire()
      local ok, e = pcall(lock.acquire, lock)
      assert.is_false(ok)
      assert.matches("already holds this lock", e)
      ok, e = pcall(lock.try_acquire, lock)
      assert.is_false(ok)
      assert.matches("already holds this lock", e)
      ok, e = pcall(lock.with, lock, function() end)
      assert.is_false(ok)
      assert.matches("already holds this lock", e)
      lock:release()
      assert.is_false(lock.locked)
    end)
  end)

  it("TestLock.test_statistics: locked and waiting follow the lock", function()
    vrun(function()
      local lock = corral.lock()
      corral.group(function(tg)
        assert.is_false(lock.locked)
        assert.equal(0, lock.waiting)
        lock:with(function()
          assert.is_true(lock.locked)
          assert.equal(0, lock.waiting)
          for i = 1, 2 do
            tg:spawn(function() lock:with(function() end) end)
            blocked()
            assert.equal(i, lock.waiting)
          end
        end)
      end)
      assert.is_false(lock.locked)
      assert.equal(0, lock.waiting)
    end)
  end)

  it("TestLock.test_asyncio_deadlock (#398): cancelling the holder hands the lock to the waiter", function()
    vrun(function()
      local lock = corral.lock()
      local second = false
      corral.group(function(tg)
        local t1 = tg:spawn(function() lock:with(corral.sleep, 0) end)
        local t2 = tg:spawn(function() lock:with(corral.sleep, 0); second = true end)
        corral.sleep(0)
        t1:cancel()
        assert.same({ true, true }, { corral.move_on_after(1, t2.wait, t2) })
      end)
      assert.is_true(second)
      assert.is_false(lock.locked)
      assert.equal(0, corral.now())
    end)
  end)

  it("TestLock.test_instantiate_outside_event_loop: a lock made outside a run works in one", function()
    local lock = corral.lock()
    assert.is_false(lock.locked)
    assert.equal(0, lock.waiting)
    vrun(function() lock:with(function() assert.is_true(lock.locked) end) end)
    assert.is_false(lock.locked)
  end)

  it("TestLock.test_owner_after_release: a release hands the lock to the waiter, who then owns it", function()
    vrun(function()
      local ev, ev2, lock = corral.event(), corral.event(), corral.lock()
      local after_release
      corral.group(function(tg)
        tg:spawn({ function()
          lock:acquire()
          ev:wait()
          lock:release()
          local ok, e = pcall(lock.release, lock)
          after_release = { lock.locked, lock:try_acquire(), ok, e }
        end, name = "task1" })
        blocked()
        tg:spawn({ function() lock:acquire(); ev2:wait(); lock:release() end, name = "task2" })
        blocked()
        assert.matches("held by task1", corral.tree())
        ev:set()
        blocked()
        ev2:set()
      end)
      assert.is_true(after_release[1])
      assert.is_false(after_release[2])
      assert.is_false(after_release[3])
      assert.matches("held by another task", after_release[4])
      assert.is_false(lock.locked)
    end)
  end)

  it("TestEvent.test_event: a waiter wakes when another task sets the event", function()
    vrun(function()
      local ev = corral.event()
      corral.group(function(tg)
        tg:spawn(function() assert.is_false(ev:is_set()); ev:set() end)
        ev:wait()
      end)
      assert.is_true(ev:is_set())
    end)
  end)

  it("TestEvent.test_statistics: waiting counts the waiters, and drops to 0 once set", function()
    vrun(function()
      local ev = corral.event()
      corral.group(function(tg)
        assert.equal(0, ev.waiting)
        for i = 1, 2 do
          tg:spawn(function() ev:wait() end)
          blocked()
          assert.equal(i, ev.waiting)
        end
        ev:set()
      end)
      assert.equal(0, ev.waiting)
    end)
  end)

  it("TestEvent.test_instantiate_outside_event_loop: an event set outside a run does not block in one", function()
    local ev = corral.event()
    assert.is_false(ev:is_set())
    assert.equal(0, ev.waiting)
    ev:set()
    assert.is_true(ev:is_set())
    vrun(function() ev:wait() end)
  end)

  for _, manual in ipairs({ false, true }) do
    local name = manual and "test_manual_acquire" or "test_contextmanager"
    it("TestSemaphore." .. name .. ": two holders of a semaphore of 2 give both permits back", function()
      vrun(function()
        local sem = corral.semaphore(2)
        local seen = {}
        local function body() seen[#seen + 1] = sem.value end
        corral.group(function(tg)
          for i = 1, 2 do
            tg:spawn({ function()
              if manual then
                sem:acquire(); body(); corral.checkpoint(); sem:release()
              else
                sem:with(function() body(); corral.checkpoint() end)
              end
            end, name = "task " .. i })
          end
        end)
        assert.same({ "0", "1" }, sorted(seen))
        assert.equal(2, sem.value)
      end)
    end)
  end

  it("TestSemaphore.test_fast_acquire: a free permit is taken without giving others a turn", function()
    vrun(function()
      local other_called = false
      local sem = corral.semaphore(1)
      corral.group(function(tg)
        tg:spawn(function() other_called = true end)
        sem:with(function() assert.is_false(other_called) end)
      end)
      assert.is_true(other_called)
    end)
  end)

  it("TestSemaphore.test_acquire_nowait: try_acquire takes the last permit, then answers false", function()
    local sem = corral.semaphore(1)
    assert.is_true(sem:try_acquire())
    assert.equal(0, sem.value)
    assert.is_false(sem:try_acquire())
    assert.equal(0, sem.value)
  end)

  it("TestSemaphore.test_statistics: waiting counts the tasks waiting for a permit", function()
    vrun(function()
      local sem = corral.semaphore(1)
      corral.group(function(tg)
        assert.equal(0, sem.waiting)
        sem:with(function()
          assert.equal(0, sem.waiting)
          for i = 1, 2 do
            tg:spawn(function() sem:with(function() end) end)
            blocked()
            assert.equal(i, sem.waiting)
          end
        end)
      end)
      assert.equal(0, sem.waiting)
      assert.equal(1, sem.value)
    end)
  end)

  it("TestSemaphore.test_asyncio_deadlock (#398): cancelling the holder hands the permit on", function()
    vrun(function()
      local sem = corral.semaphore(1)
      local second = false
      corral.group(function(tg)
        local t1 = tg:spawn(function() sem:with(corral.sleep, 0) end)
        local t2 = tg:spawn(function() sem:with(corral.sleep, 0); second = true end)
        corral.sleep(0)
        t1:cancel()
        assert.same({ true, true }, { corral.move_on_after(1, t2.wait, t2) })
      end)
      assert.is_true(second)
      assert.equal(1, sem.value)
    end)
  end)

  it("TestSemaphore.test_instantiate_outside_event_loop: a semaphore made outside a run works in one", function()
    local sem = corral.semaphore(1)
    assert.equal(1, sem.value)
    assert.equal(0, sem.waiting)
    vrun(function() sem:with(function() assert.equal(0, sem.value) end) end)
    assert.equal(1, sem.value)
  end)

  it("TestCapacityLimiter.test_ordered_queue: permits go to the waiters in the order they came", function()
    vrun(function()
      local sem, ev, results = corral.semaphore(1), corral.event(), {}
      corral.group(function(tg)
        for i = 0, 2 do
          tg:start(function(ready, x)
            ready()
            sem:with(function() ev:wait(); results[#results + 1] = x end)
          end, i)
        end
        ev:set()
      end)
      assert.same({ 0, 1, 2 }, results)
    end)
  end)

  it("TestCapacityLimiter.test_acquire_cancelled (#947): a cancelled waiter does not keep the next one out", function()
    vrun(function()
      local sem = corral.semaphore(1)
      local function borrower(ready, ev)
        corral.scope(function(s)
          ready(s)
          sem:with(function() ev:set(); corral.checkpoint() end)
        end)
      end
      local got_it
      corral.group(function(tg)
        local ev2 = corral.event()
        sem:with(function()
          local scope1 = tg:start(borrower, corral.event())
          tg:start(borrower, ev2)
          scope1:cancel()
        end)
        got_it = corral.move_on_after(0.1, ev2.wait, ev2)
        if not got_it then tg:cancel() end
      end)
      assert.is_true(got_it, "the second borrower failed to acquire the semaphore")
      assert.equal(1, sem.value)
    end)
  end)
end)

describe("AnyIO tests/streams/test_memory.py", function()
  it("test_invalid_max_buffer / test_negative_max_buffer: bad capacities raise", function()
    local ok, e = pcall(corral.channel, 1.5)
    assert.is_false(ok)
    assert.matches("integer", e)
    ok, e = pcall(corral.channel, -1)
    assert.is_false(ok)
    assert.matches(">= 0", e)
    assert.equal(math.huge, corral.channel(math.huge).capacity)
  end)

  it("test_receive_then_send: sends to a waiting receiver on a rendezvous channel", function()
    vrun(function()
      local ch, received = corral.channel(0), {}
      corral.group(function(tg)
        tg:spawn(function()
          received[#received + 1] = ch:recv()
          received[#received + 1] = ch:recv()
        end)
        blocked()
        ch:send("hello")
        ch:send("anyio")
      end)
      assert.same({ "hello", "anyio" }, received)
    end)
  end)

  it("test_send_then_receive_nowait: try_recv takes a waiting sender's value on a rendezvous", function()
    vrun(function()
      local ch, sender = corral.channel(0), nil
      corral.group(function(tg)
        sender = tg:spawn(function() ch:send("hello") end)
        blocked()
        assert.equal("hello", ch:try_recv())
      end)
      assert.equal("done", sender.status)
    end)
  end)

  it("test_send_is_unblocked_after_receive_nowait: try_recv frees a slot for a waiting sender", function()
    vrun(function()
      local ch = corral.channel(1)
      assert.is_true(ch:try_send("hello"))
      corral.fail_after(1, function()
        corral.group(function(tg)
          tg:spawn(function() ch:send("anyio") end)
          blocked()
          assert.equal("hello", ch:try_recv())
        end)
      end)
      assert.equal("anyio", ch:try_recv())
    end)
  end)

  it("test_send_nowait_then_receive_nowait: values come out in order", function()
    local ch = corral.channel(2)
    assert.is_true(ch:try_send("hello"))
    assert.is_true(ch:try_send("anyio"))
    assert.equal("hello", ch:try_recv())
    assert.equal("anyio", ch:try_recv())
    assert.same({ nil, "empty" }, { ch:try_recv() })
  end)

  it("test_iterate: iter() yields every value, and ends on close", function()
    vrun(function()
      local ch, received = corral.channel(), {}
      corral.group(function(tg)
        tg:spawn(function() for v in ch:iter() do received[#received + 1] = v end end)
        ch:send("hello")
        ch:send("anyio")
        ch:close()
      end)
      assert.same({ "hello", "anyio" }, received)
    end)
  end)

  it("test_receive_send_closed_send_stream: a closed channel answers closed, and send raises", function()
    vrun(function()
      local ch = corral.channel()
      ch:close()
      assert.same({ nil, "closed" }, { ch:try_recv() })
      assert.is_nil(ch:recv())
      local ok, e = pcall(ch.send, ch, true)
      assert.is_false(ok)
      assert.matches("channel is closed", e)
    end)
  end)

  it("test_cancel_receive: a cancelled receiver leaves the queue, so try_send finds nobody", function()
    vrun(function()
      local ch = corral.channel()
      corral.group(function(tg)
        tg:spawn(function() ch:recv() end)
        blocked()
        tg:cancel()
      end)
      assert.is_false(ch:try_send("hello"))
      assert.equal(0, ch.receivers_waiting)
    end)
  end)

  it("test_cancel_send: a cancelled sender leaves the queue, so try_recv finds nothing", function()
    vrun(function()
      local ch = corral.channel()
      corral.group(function(tg)
        tg:spawn(function() ch:send("hello") end)
        blocked()
        tg:cancel()
      end)
      assert.same({ nil, "empty" }, { ch:try_recv() })
      assert.equal(0, ch.senders_waiting)
    end)
  end)

  it("test_close_send_while_receiving: a close wakes a blocked receiver (corral: with nil)", function()
    vrun(function()
      local ch, got = corral.channel(1), "unset"
      corral.group(function(tg)
        tg:spawn(function() got = ch:recv() end)
        blocked()
        ch:close()
      end)
      assert.is_nil(got)
      assert.equal(0, corral.now())
    end)
  end)

  it("test_close_receive_while_sending: a close makes a blocked sender raise", function()
    vrun(function()
      local ch = corral.channel(0)
      local e = eg_of(corral.group, function(tg)
        tg:spawn(function() ch:send(false) end)
        blocked()
        ch:close()
      end)
      assert.equal(1, #e)
      assert.matches("closed", tostring(e.errors[1]))
    end)
  end)

  it("test_receive_after_send_closed: buffered values are still received after close", function()
    vrun(function()
      local ch = corral.channel(1)
      ch:send("hello")
      ch:close()
      assert.equal("hello", ch:recv())
      assert.is_nil(ch:recv())
    end)
  end)

  it("test_close_receive_after_send: a sender closing after its send loses nothing", function()
    vrun(function()
      local ch, got = corral.channel(), nil
      corral.group(function(tg)
        tg:spawn(function() ch:send("test"); ch:close() end)
        tg:spawn(function() got = ch:recv(); ch:close() end)
      end)
      assert.equal("test", got)
    end)
  end)

  it("test_statistics: buffered count and waiting senders and receivers", function()
    vrun(function()
      local ch = corral.channel(1)
      assert.equal(1, ch.capacity)
      assert.equal(0, #ch)
      assert.equal(0, ch.senders_waiting)
      assert.equal(0, ch.receivers_waiting)
      corral.group(function(tg)
        assert.is_true(ch:try_send(true))
        assert.equal(1, #ch)
        tg:spawn(function() ch:send(true) end)
        blocked()
        assert.equal(1, #ch)
        assert.equal(1, ch.senders_waiting)
        ch:try_recv()
        assert.equal(1, #ch)
        assert.equal(0, ch.senders_waiting)
        ch:try_recv()
        assert.equal(0, #ch)

        tg:spawn(function() ch:recv() end)
        blocked()
        assert.equal(1, ch.receivers_waiting)
        assert.is_true(ch:try_send(true))
        assert.equal(0, ch.receivers_waiting)
      end)
      corral.group(function(tg)
        assert.is_true(ch:try_send(true))
        assert.equal(0, ch.senders_waiting)
        for _ = 1, 3 do tg:spawn(function() ch:send(true) end) end
        blocked()
        assert.equal(3, ch.senders_waiting)
        for i = 2, 0, -1 do
          ch:try_recv()
          assert.equal(i, ch.senders_waiting)
        end
        ch:try_recv()
      end)
      assert.equal(0, #ch)
      assert.equal(0, ch.senders_waiting)
      assert.equal(0, ch.receivers_waiting)
    end)
  end)

  it("test_sync_close: once closed, try_send raises and try_recv answers closed", function()
    local ch = corral.channel(1)
    ch:close()
    local ok, e = pcall(ch.try_send, ch, true)
    assert.is_false(ok)
    assert.matches("closed", e)
    assert.same({ nil, "closed" }, { ch:try_recv() })
  end)

  it("test_send_to_natively_cancelled_receiver: a value sent after a receiver's cancel stays buffered", function()
    vrun(function()
      local ch = corral.channel(1)
      corral.group(function(tg)
        local t = tg:spawn(function() return ch:recv() end)
        blocked()
        t:cancel()
        assert.is_true(ch:try_send("hello"))
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
      end)
      assert.equal("hello", ch:try_recv())
    end)
  end)
end)
