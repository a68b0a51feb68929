-- spec/ported_cpython_spec.lua: CPython's asyncio tests, test by test, ported to
-- corral (Lib/test/test_asyncio/test_taskgroups.py, test_timeouts.py,
-- test_waitfor.py, test_locks.py, test_queues.py, as of CPython 3.15's main, with
-- the TaskGroup.cancel tests of gh-108951 / PR #127214 and its follow-ups gh-155418
-- and gh-155433, and the requirements of the defer_errors proposal gh-101581).
-- One `describe` per CPython file, each `it` named after the CPython test, all under
-- the virtual clock. The translation: asyncio.TaskGroup -> corral.group,
-- create_task -> g:spawn, asyncio.timeout -> corral.fail_after / a scope with a
-- deadline, wait_for -> fail_after around the work (the work spawned into a group
-- inside it, when the CPython test waits for a task), Lock / Event / Semaphore ->
-- corral.lock / event / semaphore, Queue -> corral.channel, ExceptionGroup ->
-- ErrorGroup, CancelledError -> Cancelled. Task.uncancel()/cancelling() have no
-- analogue: those tests check what they protect (an outer cancel is never
-- swallowed, a timeout converts only its own cancellation).
--
-- Two rules of corral change some tests' shape (each port says where):
-- * cancellation is level-triggered (Trio): code that handles a Cancelled and then
--   blocks (asyncio's `except CancelledError: await sleep(...)`) meets the same
--   cancel again, so cleanup that must block does so in a shielded scope;
-- * cancelling a task reaches its children at once (asyncio cancels a group's
--   children only when the cancelled body reaches the group's exit), and the
--   outermost cancelled scope absorbs a Cancelled (asyncio: the innermost expired
--   timeout converts it).
--
-- What these ports found broken in corral: a task cancelled just after a value was
-- handed to it ended "cancelled" and dropped the value with its results
-- (test_get_cancel_drop_one_pending_reader / _many_pending_readers,
-- test_put_cancel_drop; spec/regress/a-value-handed-to-a-task-before-its-cancel-
-- was-dropped-with-its-results_spec.lua).
--
-- Already ported in spec/ported_taskgroups_spec.lua, not repeated here:
-- test_taskgroup_01/02/03/04, test_cancel_children_on_child_error,
-- test_cancellation, test_taskgroup_14, test_taskgroup_18, test_taskgroup_19 (and
-- 20a/21a, the same in Lua, which has no BaseException), test_taskgroup_23,
-- test_taskgroup_25, test_taskgroup_task_name, test_taskgroup_finished and
-- test_coro_closed_when_tg_closed (spawn after exit), test_cancelling_level_preserved,
-- test_cancellation_does_not_leak_out_of_tg; test_timeouts' test_nested_timeouts
-- (ported again here with its scope flags), test_foreign_exception_on_timeout,
-- test_timeout_after_cancellation; in spec/ported_sync_spec.lua: test_locks'
-- test_finished_waiter_cancelled, test_acquire_hang,
-- test_acquire_no_hang, test_acquire_fifo_order_3, test_queues'
-- test_get_cancelled_race, test_put_cancelled_race, and older versions of
-- test_why_are_getters_waiting / test_why_are_putters_waiting (the current ones
-- are here).
--
-- Skipped, and why:
-- * asyncio-only API: test_taskgroup_task_context (contextvars),
--   test_taskgroup_already_entered / _double_enter / _not_entered /
--   _without_parent_task and test_timeout_already_entered / _double_enter /
--   _not_entered / _without_task (a context manager entered twice or never: a
--   corral group or scope is a call, it cannot be), test_taskgroup_cancel_before_enter
--   (the same: there is no group object before the call), test_lock,
--   test_lock_by_with_statement, test_semaphore, test_barrier ("can't be awaited"),
--   test_lock_doesnt_accept_loop_parameter and test_ambiguous_loops (event-loop
--   binding; corral's constructors refuse extra arguments, see
--   spec/regress/a-semaphores-maximum-passed-as-a-second-argument-was-dropped_spec.lua),
--   test_generic_alias, test_format (queue internals), test_timeout_exception_cause
--   (exception chaining: Lua errors have no __cause__);
-- * KeyboardInterrupt / BaseException: test_taskgroup_20 and the disabled
--   _test_taskgroup_21 (Lua has one kind of error; corral's KeyboardInterrupt is a
--   signal that cancels the root, specified in spec/cli_spec.lua);
-- * gc reference cycles: test_exception_refcycles_direct / _errors / _parent_task /
--   _parent_task_wr / _propagate_cancellation_error / _base_error;
-- * primitives corral does not have: every ConditionTests and BarrierTests test,
--   EventTests.test_clear / test_clear_with_waiters (a corral event is set once, as
--   Trio's), SemaphoreTests.test_release_not_acquired (BoundedSemaphore: a corral
--   semaphore has no maximum), LifoQueueTests / PriorityQueueTests test_order, the
--   join() / task_done() tests (a group waits for the workers instead; test_task_done
--   is ported that way) and the immediate shutdowns test_shutdown_immediate /
--   _with_unfinished (ch:close() never drops buffered values).
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun, now = support.vrun, corral.now
local blocked = testing.wait_all_tasks_blocked
local error_group, cancelled = support.error_group, support.cancelled

-- The leaf errors of an ErrorGroup, without "file:line: ", sorted.
local function leaves(e)
  local out = {}
  for i, v in ipairs(e:flatten()) do out[i] = (tostring(v):gsub("^.-:%d+: ", "")) end
  table.sort(out)
  return out
end

-- A <close> value whose handler runs fn(err).
local closer = support.closer

-- A task body that returns once its sleep is cancelled, recording that it was.
local function count_cancel(counter, seconds)
  return function()
    local ok, e = pcall(corral.sleep, seconds)
    if not ok and corral.is_cancelled(e) then counter.n = counter.n + 1 end
    if not ok then error(e, 0) end
  end
end

-- Runs fn(...) in a task of its own (so that a cancel it gets is not the spec's)
-- and returns that task, ended.
local function in_task(fn, ...)
  local args, t = table.pack(...), nil
  corral.group(function(g)
    t = g:spawn(function() return fn(table.unpack(args, 1, args.n)) end)
  end, { on_error = function() return true end }) -- its failure is read with t:wait()
  return t
end

-- CPython's "runner" shape: run body in a task r, cancel r from outside after `at`
-- seconds (r is still running then: `self.assertFalse(r.done())`), and return
-- r:wait(): false and r's error (its Cancelled, or an ErrorGroup).
local function cancel_runner_after(at, body, reason)
  local res
  corral.group(function(outer)
    local r = outer:spawn(body)
    corral.sleep(at)
    assert.equal("waiting", r.status)
    r:cancel(reason)
    res = table.pack(r:wait())
  end, { on_error = function() return true end })
  return table.unpack(res, 1, res.n)
end

-- A child whose cleanup crashes: `try: await sleep(10) finally: 1 / 0`.
local function crash_in_cleanup()
  local _ <close> = closer(function() error("ZeroDivision", 0) end)
  corral.sleep(10)
end

local function rep(v, n)
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

describe("CPython test_taskgroups", function()
  it("test_taskgroup_07", function()
    vrun(function()
      local num = { n = 0 }
      local ok, c = cancel_runner_after(0.1, function()
        corral.group(function(g)
          for _ = 1, 5 do g:spawn(count_cancel(num, 5)) end
          local ok, e = pcall(corral.sleep, 10)
          if not ok then num.n = num.n + 10; error(e, 0) end
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.equal(15, num.n)
    end)
  end)

  it("test_taskgroup_08", function()
    vrun(function()
      local ok, e = cancel_runner_after(0.1, function()
        corral.group(function(g)
          for _ = 1, 5 do g:spawn(crash_in_cleanup) end
          corral.sleep(10)
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.same(rep("ZeroDivision", 5), leaves(e))
    end)
  end)

  it("test_cancellation_in_body", function()
    vrun(function()
      -- (CPython's children crash at 0.1 s, the instant of the cancel: a tie the
      -- virtual clock makes exact. Here they would crash later; the cancel reaches
      -- them first, at once, so none crashes.)
      local ok, c = cancel_runner_after(0.1, function()
        corral.group(function(g)
          for _ = 1, 5 do g:spawn(function() corral.sleep(0.2); error("ZeroDivision") end) end
          local ok, e = pcall(corral.sleep, 10)
          if not ok then error(e, 0) end
        end)
      end, "test")
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.equal("test", c.reason)
    end)
  end)

  it("test_taskgroup_09", function()
    vrun(function()
      local t1, t2
      local e = error_group(corral.group, function(g)
        t1 = g:spawn(function() corral.sleep(1); return 42 end)
        t2 = g:spawn(function() corral.sleep(2); return 11 end)
        corral.sleep(0.1)
        error("ZeroDivision")
      end)
      assert.same({ "ZeroDivision" }, leaves(e))
      assert.equal("cancelled", t1.status)
      assert.equal("cancelled", t2.status)
      assert.equal(0.1, now())
    end)
  end)

  it("test_taskgroup_10", function()
    vrun(function()
      local t1, t2
      local e = error_group(corral.group, function(g)
        t1 = g:spawn(function() corral.sleep(1); return 42 end)
        t2 = g:spawn(function() corral.sleep(2); return 11 end)
        error("ZeroDivision")
      end)
      assert.same({ "ZeroDivision" }, leaves(e))
      assert.equal("cancelled", t1.status)
      assert.equal("cancelled", t2.status)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_11", function()
    vrun(function()
      local ok, e = cancel_runner_after(0.1, function()
        corral.group(function()
          corral.group(function(g2)
            for _ = 1, 5 do g2:spawn(crash_in_cleanup) end
            corral.sleep(10)
          end)
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.equal(1, #e)
      assert.is_true(corral.is_error_group(e.errors[1]))
      assert.same(rep("ZeroDivision", 5), leaves(e.errors[1]))
    end)
  end)

  it("test_taskgroup_12", function()
    vrun(function()
      local ok, e = cancel_runner_after(0.1, function()
        corral.group(function(g1)
          g1:spawn(corral.sleep, 10)
          corral.group(function(g2)
            for _ = 1, 5 do g2:spawn(crash_in_cleanup) end
            corral.sleep(10)
          end)
        end)
      end)
      assert.is_false(ok)
      assert.equal(1, #e)
      assert.is_true(corral.is_error_group(e.errors[1]))
      assert.same(rep("ZeroDivision", 5), leaves(e.errors[1]))
    end)
  end)

  it("test_taskgroup_13", function()
    vrun(function()
      local e = error_group(corral.group, function(g1)
        g1:spawn(function() corral.sleep(0.1); error("ValueError 0.1", 0) end)
        corral.group(function(g2)
          g2:spawn(function() corral.sleep(10); error("ValueError 10", 0) end)
        end)
      end)
      -- the inner group, cancelled by the outer failure, is no failure itself
      assert.same({ "ValueError 0.1" }, e.errors)
      assert.equal(0.1, now())
    end)
  end)

  -- CPython 3.13 changed test_taskgroup_15 and _16 (gh-116720): a child that crashes
  -- while the cancelled body still handles its cancel is no longer swallowed, the
  -- runner raises an ExceptionGroup. asyncio cancels the children only when the
  -- body reaches the group's exit, so the child crashes at 0.3 s; corral's cancel
  -- reaches the child at once, so its sleep is shielded to crash at 0.3 s all the
  -- same. (spec/ported_taskgroups_spec.lua has the 3.12 versions, where no child
  -- crashes.)
  local function crash_soon()
    corral.scope(function() corral.sleep(0.3) end, { shield = true })
    error("ZeroDivision", 0)
  end

  local function nested_runner()
    corral.group(function(g1)
      g1:spawn(crash_soon)
      local _, c = pcall(corral.sleep, 10)
      corral.scope(function() corral.sleep(0.5) end, { shield = true })
      error(c, 0)
    end)
  end

  it("test_taskgroup_15", function()
    vrun(function()
      local ok, e = cancel_runner_after(0.1, nested_runner)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.same({ "ZeroDivision" }, leaves(e))
      assert.equal(0.6, now())
    end)
  end)

  it("test_taskgroup_16", function()
    vrun(function()
      local ok, e = cancel_runner_after(0.1, function()
        corral.group(function(g) g:spawn(nested_runner) end) -- t = create_task(...); await t
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.same({ "ZeroDivision" }, leaves(e))
      assert.equal(0.6, now())
    end)
  end)

  it("test_taskgroup_17", function()
    vrun(function()
      local num = 0
      local ok, c = cancel_runner_after(0.1, function()
        corral.group(function()
          local ok, e = pcall(corral.sleep, 10)
          if not ok then num = num + 10; error(e, 0) end
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.equal(10, num)
    end)
  end)

  it("test_taskgroup_22", function()
    vrun(function()
      local ok, c = cancel_runner_after(0.05, function()
        corral.group(function(g)
          g:spawn(function() corral.sleep(1); return 42 end)
          g:spawn(function() corral.sleep(2); return 11 end)
        end)
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(c))
      assert.equal(0.05, now())
    end)
  end)

  it("test_taskgroup_24", function()
    vrun(function()
      local done = {}
      corral.group(function(g)
        g:spawn(function()
          corral.sleep(0.1)
          for _, delay in ipairs({ 0.1, 0.2 }) do
            g:spawn(function() corral.sleep(delay); done[#done + 1] = delay end)
          end
        end)
      end)
      assert.same({ 0.1, 0.2 }, done)
      assert.equal(0.1 + 0.2, now())
    end)
  end)

  it("test_taskgroup_no_create_task_after_failure", function()
    vrun(function()
      -- asyncio's create_task raises RuntimeError once the group is aborting; a
      -- spawn into a cancelled corral group runs the child up to its first
      -- cancellation point instead (no spawn is silently dropped), where it is
      -- cancelled: its crash never happens, and only the first failure is raised.
      local spawned, started = false, false
      local e = error_group(corral.group, function(g)
        g:spawn(function() corral.sleep(0.001); error("ZeroDivision", 0) end)
        g:spawn(function()
          local ok, c = pcall(corral.sleep, 1)
          assert.is_false(ok)
          spawned = pcall(g.spawn, g, function()
            started = true
            corral.sleep(0.001)
            error("not reached", 0)
          end)
          error(c, 0)
        end)
      end)
      assert.same({ "ZeroDivision" }, e.errors)
      assert.is_true(spawned)
      assert.is_true(started)
    end)
  end)

  it("test_taskgroup_context_manager_exit_raises", function()
    vrun(function()
      -- (gh-95289) the body's context manager raises from its finally while the
      -- child's failure cancels the body: both errors are in the group's
      -- ErrorGroup, and no cancel is left behind (task.cancelling() == 0)
      local t = in_task(function()
        local e = error_group(corral.group, function(tg)
          local _ <close> = closer(function() error("CustomException", 0) end) -- database()
          tg:spawn(function() error("CustomException", 0) end)
          corral.sleep(1)
        end)
        assert.same({ "CustomException", "CustomException" }, e.errors)
        corral.sleep(1)
        return "ok"
      end)
      assert.same({ true, "ok" }, { t:wait() })
      assert.equal(1, now())
    end)
  end)

  it("test_nested_groups_both_cancelled", function()
    vrun(function()
      -- (here the inner child fails without a checkpoint first, so that it fails
      -- before the outer child in any schedule, as asyncio's creation order has it)
      local inner_eg, after_inner
      local e = error_group(corral.group, function(outer_tg)
        local ok, eg = pcall(corral.group, function(inner_tg)
          inner_tg:spawn(function() error("RuntimeError", 0) end)
          outer_tg:spawn(function() corral.sleep(0); error("ValueError", 0) end)
        end)
        assert.is_false(ok)
        inner_eg = eg
        -- current_task().cancelling() == 1: the outer group's cancel is still there
        after_inner = select(2, pcall(corral.sleep, 1))
      end)
      assert.same({ "RuntimeError" }, inner_eg.errors)
      assert.is_true(corral.is_cancelled(after_inner))
      assert.same({ "ValueError" }, e.errors)
      corral.sleep(0) -- cancelling() == 0 afterwards: this would raise
      assert.equal(0, now())
    end)
  end)

  it("test_error_and_cancel", function()
    vrun(function()
      -- (asyncio's child sleeps(0) after setting the event so that the outer cancel
      -- lands first; a corral checkpoint raises a cancel that arrives meanwhile, so
      -- the child fails without one: the group then handles its error and the
      -- outer cancel together)
      local event = corral.event()
      local inner_eg, after_group
      corral.group(function(g)
        local t = g:spawn(function()
          local ok, eg = pcall(corral.group, function(tg)
            tg:spawn(function() event:set(); error("RuntimeError", 0) end)
            corral.sleep(1)
            error("Sleep in group should have been cancelled")
          end)
          assert.is_false(ok)
          inner_eg = eg
          after_group = true
          corral.sleep(1)
          error("Sleep after group should have been cancelled")
        end)
        event:wait()
        t:cancel()
        local ok, c = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("cancelled", t.status)
      end)
      assert.is_true(corral.is_error_group(inner_eg))
      assert.same({ "RuntimeError" }, inner_eg.errors)
      assert.is_true(after_group)
      assert.equal(0, now())
    end)
  end)

  it("test_name", function()
    vrun(function()
      local name
      corral.group(function(tg)
        tg:spawn({ function() name = corral.current_task().name end, name = "example name" })
      end)
      assert.equal("example name", name)
    end)
  end)

  it("test_cancels_task_if_created_during_creation (gh-128550)", function()
    vrun(function()
      local ran, sleeps_ok = false, nil
      local e = error_group(corral.group, function(tg)
        tg:spawn(function()
          tg:spawn(function() error("third task failed", 0) end)
          sleeps_ok = pcall(function() corral.sleep(0); corral.sleep(0) end)
          ran = true
        end)
      end)
      assert.is_true(ran)
      assert.is_false(sleeps_ok)
      assert.same({ "third task failed" }, e.errors)
    end)
  end)

  -- TaskGroup.cancel() (gh-108951, PR #127214; its test file is not in the stored
  -- corpus, the tests below follow the PR's tests and names)
  it("test_taskgroup_cancel_children", function()
    vrun(function()
      corral.fail_after(1, function() -- (asserting that TimeoutError is not raised)
        corral.group(function(tg)
          tg:spawn(corral.sleep, 10)
          tg:spawn(corral.sleep, 10)
          corral.sleep(0)
          tg:cancel()
        end)
      end)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_cancel_body", function()
    vrun(function()
      local count = 0
      corral.group(function(tg)
        tg:cancel()
        count = count + 1
        corral.sleep(0) -- the cancellation happens here
        count = count + 1
      end)
      assert.equal(1, count)
    end)
  end)

  it("test_taskgroup_cancel_idempotent", function()
    vrun(function()
      local count, grp = 0, nil
      corral.group(function(tg)
        grp = tg
        tg:cancel()
        tg:cancel()
        count = count + 1
        corral.sleep(0)
        count = count + 1
      end)
      assert.equal(1, count)
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)
  end)

  it("test_taskgroup_cancel_after_exit", function()
    vrun(function()
      local grp
      corral.group(function(tg) grp = tg; corral.sleep(0) end)
      grp:cancel() -- (asserting that no error is raised)
      assert.is_false(grp.cancel_called)
      corral.sleep(0) -- nor is any cancel left behind
    end)
  end)

  it("test_taskgroup_cancel_before_exception", function()
    vrun(function()
      local e = error_group(corral.group, function(tg)
        tg:spawn(function() tg:cancel(); error("RuntimeError", 0) end)
        corral.sleep(1)
      end)
      assert.same({ "RuntimeError" }, e.errors)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_cancel_after_exception", function()
    vrun(function()
      local e = error_group(corral.group, function(tg)
        tg:spawn(function()
          local _ <close> = closer(function() tg:cancel() end)
          error("RuntimeError", 0)
        end)
        corral.sleep(1)
      end)
      assert.same({ "RuntimeError" }, e.errors)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_body_cancel_before_exception", function()
    vrun(function()
      local e = error_group(corral.group, function(tg)
        tg:cancel()
        error("RuntimeError", 0)
      end)
      assert.same({ "RuntimeError" }, e.errors)
    end)
  end)

  it("test_taskgroup_body_cancel_after_exception", function()
    vrun(function()
      local e = error_group(corral.group, function(tg)
        local _ <close> = closer(function() tg:cancel() end)
        error("RuntimeError", 0)
      end)
      assert.same({ "RuntimeError" }, e.errors)
    end)
  end)

  it("test_taskgroup_cancel_one_winner #fifo", function()
    vrun(function()
      -- a corral wake-up delivered before a cancel wins, so a second function woken
      -- in the same instant as the winner may finish too: the race keeps the first
      -- outcome. (In this schedule the event is set before the functions start, as
      -- in asyncio's, and the second is cancelled at its wait.)
      local function race(...)
        local fns, outcome = { ... }, nil
        corral.group(function(tg)
          for _, fn in ipairs(fns) do
            tg:spawn(function()
              local v = fn()
              if outcome == nil then outcome = v end
              tg:cancel()
            end)
          end
        end)
        return outcome
      end
      local event, record = corral.event(), {}
      local function fn(i)
        return function()
          record[#record + 1] = i .. " started"
          event:wait()
          record[#record + 1] = i .. " finished"
          return i
        end
      end
      local fut
      corral.group(function(tg)
        fut = tg:spawn(race, fn(1), fn(2))
        tg:spawn(function()
          record[#record + 1] = "triggering event"
          event:set()
          record[#record + 1] = "event triggered"
        end)
      end)
      assert.same({ true, 1 }, { fut:wait() })
      assert.same({ "triggering event", "event triggered", "1 started", "1 finished", "2 started" }, record)
    end)
  end)

  it("test_taskgroup_cancel_before_create_task", function()
    vrun(function()
      -- asyncio raises RuntimeError here, with a TODO: "We'd rather have no
      -- exception raised, and the child task run until the first await". corral
      -- does that.
      local log = {}
      corral.group(function(tg)
        tg:cancel()
        tg:spawn(function()
          log[#log + 1] = "started"
          corral.sleep(1)
          log[#log + 1] = "not reached"
        end)
      end)
      assert.same({ "started" }, log)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_cancel_from_child_before_first_suspension (gh-155418)", function()
    vrun(function()
      local log = {}
      corral.group(function(tg)
        tg:spawn(function()
          tg:cancel()
          log[#log + 1] = "cancelled the group"
          corral.sleep(10)
          log[#log + 1] = "not reached"
        end)
      end)
      log[#log + 1] = "group exited"
      assert.same({ "cancelled the group", "group exited" }, log)
      assert.equal(0, now())
    end)
  end)

  it("test_taskgroup_cancel_keeps_outer_cancellation (gh-155433, made deterministic by gh-157157)", function()
    vrun(function()
      local cleaning, release, inner_g = corral.event(), corral.event(), nil
      corral.group(function(top)
        local body = top:spawn(function()
          corral.group(function(tg)
            inner_g = tg
            tg:spawn(function()
              local _ <close> = closer(function()
                corral.scope(function() cleaning:set(); release:wait() end, { shield = true })
              end)
              corral.sleep(math.huge)
            end)
            corral.sleep(0)
            tg:cancel()
          end)
          -- asyncio raises the outer CancelledError out of the `async with`; so does
          -- corral's group here, and if it returned, the level-triggered outer cancel
          -- would raise at the next cancellation point
          corral.checkpoint()
          error("not reached: the outer cancel was swallowed")
        end)
        cleaning:wait() -- the group is cancelled and waits for its child
        body:cancel("message")
        release:set()
        local ok, c = body:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("message", c.reason)
      end)
      assert.is_true(inner_g.cancel_called)
      assert.is_false(inner_g.cancel_caught)
    end)
  end)
end)

describe("CPython gh-101581 (TaskGroup without cancel-on-first-failure: corral's defer_errors)", function()
  -- The issue's requirements; its example (siblings finish, then the ErrorGroup) and
  -- the bound on kept errors are in spec/ported_taskgroups_spec.lua.
  it("an exception raised in the body still cancels the children", function()
    vrun(function()
      local child
      local e = error_group(corral.group, function(g)
        child = g:spawn(corral.sleep, 10)
        g:spawn(function() error("child failure", 0) end)
        corral.sleep(1)
        error("body failure", 0)
      end, { defer_errors = true })
      assert.same({ "child failure", "body failure" }, e.errors)
      assert.equal("cancelled", child.status)
      assert.equal(1, now())
    end)
  end)

  it("an enclosing cancel still cancels the children", function()
    vrun(function()
      local child
      local e = error_group(corral.move_on_after, 1, function()
        corral.group(function(g)
          child = g:spawn(corral.sleep, 10)
          g:spawn(function() error("child failure", 0) end)
        end, { defer_errors = true })
      end)
      assert.same({ "child failure" }, e.errors)
      assert.equal("cancelled", child.status)
      assert.equal(1, now())
    end)
  end)
end)

describe("CPython test_timeouts", function()
  local raises = support.raises

  local function timeout_of(...)
    local e = raises(...)
    assert(corral.is_timeout(e), "expected a Timeout, got: " .. tostring(e))
    return e
  end

  it("test_timeout_basic", function()
    vrun(function()
      timeout_of(corral.fail_after, 0.01, corral.sleep, 10)
      assert.equal(0.01, now())
      local cm
      corral.scope(function(s) cm = s; corral.sleep(10) end, { timeout = 0.01 })
      assert.is_true(cm.cancel_called) -- cm.expired()
      assert.is_true(cm.cancel_caught)
    end)
  end)

  it("test_timeout_at_basic", function()
    vrun(function()
      local deadline = now() + 0.01
      timeout_of(corral.fail_at, deadline, corral.sleep, 10)
      deadline = now() + 0.01
      local cm
      corral.scope(function(s) cm = s; corral.sleep(10) end, { deadline = deadline })
      assert.is_true(cm.cancel_caught)
      assert.equal(deadline, cm.deadline) -- cm.when()
    end)
  end)

  it("test_nested_timeouts", function()
    vrun(function()
      local deadline, cancelled, cm2 = now() + 0.01, false, nil
      timeout_of(corral.fail_at, deadline, function()
        -- only the topmost one raises TimeoutError
        corral.scope(function(s)
          cm2 = s
          local ok, c = pcall(corral.sleep, 10)
          cancelled = not ok and corral.is_cancelled(c)
          error(c, 0)
        end, { deadline = deadline })
      end)
      assert.is_true(cancelled)
      assert.is_true(cm2.cancel_called) -- cm2.expired()
      assert.is_false(cm2.cancel_caught)
    end)
  end)

  it("test_waiter_cancelled", function()
    vrun(function()
      local cancelled = false
      timeout_of(corral.fail_after, 0.01, function()
        local ok, c = pcall(corral.sleep, 10)
        cancelled = not ok and corral.is_cancelled(c)
        error(c, 0)
      end)
      assert.is_true(cancelled)
    end)
  end)

  it("test_timeout_not_called", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(0.01) end, { timeout = 10 })
      assert.is_false(cm.cancel_called)
      assert.is_true(cm.deadline > now())
    end)
  end)

  it("test_timeout_disabled", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(0.01) end, { timeout = math.huge }) -- timeout(None)
      assert.is_false(cm.cancel_called)
      assert.equal(math.huge, cm.deadline)
    end)
  end)

  it("test_timeout_at_disabled", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(0.01) end, { deadline = math.huge })
      assert.is_false(cm.cancel_called)
      assert.equal(math.huge, cm.deadline)
    end)
  end)

  it("test_timeout_zero", function()
    vrun(function()
      local t0 = now()
      timeout_of(corral.fail_after, 0, corral.sleep, 10)
      local cm
      corral.scope(function(s) cm = s; corral.sleep(10) end, { timeout = 0 })
      assert.equal(t0, now())
      assert.is_true(cm.cancel_caught)
      assert.equal(t0, cm.deadline)
    end)
  end)

  it("test_timeout_zero_sleep_zero", function()
    vrun(function()
      timeout_of(corral.fail_after, 0, corral.sleep, 0)
      assert.equal(0, now())
    end)
  end)

  it("test_timeout_in_the_past_sleep_zero", function()
    vrun(function()
      corral.sleep(20)
      -- asyncio.timeout(-11) expires on entry; a negative corral timeout is a bad
      -- argument, and a deadline in the past says the same
      local bad = raises(corral.fail_after, -11, corral.sleep, 0)
      assert.is_false(corral.is_timeout(bad))
      assert.matches("bad argument #1 to 'corral.fail_after'", bad)
      timeout_of(corral.fail_at, now() - 11, corral.sleep, 0)
      assert.equal(20, now())
    end)
  end)

  it("test_foreign_exception_passed", function()
    vrun(function()
      assert.equal("KeyError", raises(corral.fail_after, 0.01, error, "KeyError", 0))
      local cm
      assert.equal("KeyError", raises(corral.scope, function(s) cm = s; error("KeyError", 0) end, { timeout = 0.01 }))
      assert.is_false(cm.cancel_called)
    end)
  end)

  it("test_timeout_exception_context", function()
    vrun(function()
      -- `try: 1/0 finally: await sleep(1)` under a timeout. In asyncio the
      -- CancelledError raised in the finally replaces the ZeroDivisionError and the
      -- timeout turns it into TimeoutError. A corral Cancelled never takes a
      -- failure's place: the error being unwound stays, and passes the timeout.
      local e = raises(corral.fail_after, 0.01, function()
        local _ <close> = closer(function() corral.sleep(1) end)
        error("ZeroDivision", 0)
      end)
      assert.equal("ZeroDivision", e)
      assert.equal(0.01, now())
    end)
  end)

  it("test_foreign_exception_on_timeout_2", function()
    vrun(function()
      local e = raises(corral.fail_after, 0.01, function()
        local _ <close> = closer(function() -- finally: try: raise KeyError finally: 1/0
          local _ <close> = closer(function() error("ZeroDivision", 0) end)
          error("KeyError", 0)
        end)
        local _ <close> = closer(function() corral.sleep(1) end) -- finally: await sleep(1)
        error("ValueError", 0)
      end)
      assert.equal("ZeroDivision", e)
      assert.equal(0.01, now())
    end)
  end)

  it("test_foreign_cancel_doesnt_timeout_if_not_expired", function()
    vrun(function()
      local cm
      local t = in_task(function()
        local e = raises(corral.fail_after, 10, function()
          corral.current_task():cancel()
          corral.sleep(10)
        end)
        assert.is_true(corral.is_cancelled(e))
        assert.is_false(corral.is_timeout(e))
        corral.scope(function(s) cm = s; corral.sleep(10) end, { timeout = 10 })
      end)
      assert.equal("cancelled", t.status)
      assert.is_false(cm.cancel_called) -- cm.expired()
      assert.equal(0, now())
    end)
  end)

  it("test_outer_task_is_not_cancelled", function()
    vrun(function()
      local t = in_task(function()
        timeout_of(corral.fail_after, 0.001, corral.sleep, 10)
      end)
      assert.equal("done", t.status)
    end)
  end)

  it("test_nested_timeouts_concurrent", function()
    vrun(function()
      -- asyncio's `time.sleep(0.01)` keeps the loop busy past the outer deadline;
      -- the virtual clock moves only while every task waits, so a shielded sleep
      -- stands for it: no deadline reaches the body until it ends
      local inner
      timeout_of(corral.fail_after, 0.002, function()
        inner = raises(corral.fail_after, 0.1, function()
          corral.scope(function() corral.sleep(0.01) end, { shield = true })
          corral.sleep(1)
        end)
        error(inner, 0)
      end)
      -- the outer deadline's Cancelled passes the inner timeout unchanged
      assert.is_true(corral.is_cancelled(inner))
      assert.is_false(corral.is_timeout(inner))
      assert.equal(0.01, now())
    end)
  end)

  it("test_nested_timeouts_loop_busy", function()
    vrun(function()
      -- the loop is busy (a shielded sleep, as above) past both deadlines. asyncio:
      -- the inner timeout raises TimeoutError, then the outer one interrupts the next
      -- sleep. corral (Trio's rule): the outermost cancelled scope absorbs the
      -- Cancelled, so it passes the inner timeout and the outer one raises.
      local t0, inner = now(), nil
      timeout_of(corral.fail_after, 0.1, function() -- (1)
        local _
        _, inner = pcall(corral.fail_after, 0.01, function() -- (2)
          corral.scope(function() corral.sleep(0.1) end, { shield = true })
          corral.sleep(1)
        end)
        corral.sleep(10) -- interrupted by (1)
      end)
      assert.is_true(corral.is_cancelled(inner))
      assert.equal(t0 + 0.1, now())
    end)
  end)

  it("test_reschedule", function()
    vrun(function()
      local deadline1 = now() + 10
      local deadline2 = deadline1 + 20
      local cm
      corral.group(function(g)
        local ready = corral.event()
        local task = g:spawn(function()
          corral.scope(function(s) cm = s; ready:set(); corral.sleep(50) end, { deadline = deadline1 })
        end)
        ready:wait()
        assert.equal(deadline1, cm.deadline)
        cm.deadline = deadline2
        assert.equal(deadline2, cm.deadline)
        cm.deadline = math.huge -- reschedule(None)
        assert.equal(math.huge, cm.deadline)
        task:cancel()
        local ok, c = task:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
      end)
      assert.is_false(cm.cancel_called)
      assert.equal(0, now())
    end)
  end)

  it("test_repr_active", function()
    vrun(function()
      corral.scope(function(s)
        assert.equal("corral.Scope(t)", tostring(s))
        assert.equal(10, s.deadline - now())
      end, { timeout = 10, name = "t" })
    end)
  end)

  it("test_repr_expired", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(10) end, { timeout = 0.01, name = "t" })
      assert.equal("corral.Scope(t, cancelled, exited)", tostring(cm))
    end)
  end)

  it("test_repr_finished", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(0) end, { timeout = 10, name = "t" })
      assert.equal("corral.Scope(t, exited)", tostring(cm))
    end)
  end)

  it("test_repr_disabled", function()
    vrun(function()
      corral.scope(function(s)
        assert.equal("corral.Scope(t)", tostring(s))
        assert.equal(math.huge, s.deadline)
      end, { name = "t" })
    end)
  end)

  it("test_nested_timeout_in_finally", function()
    vrun(function()
      -- asyncio runs the finally's own timeout after the outer one fired; corral's
      -- outer cancel is level-triggered, so cleanup that blocks does so in a
      -- shielded scope, where the inner timeout is its own
      local inner
      timeout_of(corral.fail_after, 0.01, function()
        local _ <close> = closer(function()
          corral.scope(function()
            inner = raises(corral.fail_after, 0.01, corral.sleep, 10)
          end, { shield = true })
        end)
        corral.sleep(1)
      end)
      assert.is_true(corral.is_timeout(inner))
      assert.equal(0.02, now())
    end)
  end)

  it("test_cancel_in_timeout_after_cancellation", function()
    vrun(function()
      local e
      local t = in_task(function()
        corral.current_task():cancel("first")
        assert.is_false(pcall(corral.sleep, 1)) -- work which will be cancelled
        e = raises(corral.fail_after, 1, function()
          corral.current_task():cancel("second")
          corral.sleep(2) -- some cleanup
        end)
        error(e, 0)
      end)
      assert.is_true(corral.is_cancelled(e))
      assert.is_false(corral.is_timeout(e))
      assert.equal("first", e.reason) -- a task is cancelled once
      assert.equal("cancelled", t.status)
      assert.equal(0, now())
    end)
  end)

  it("test_timeout_finished", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s end, { timeout = 0.01 })
      -- asyncio's reschedule() of a finished timeout raises RuntimeError; a corral
      -- scope's deadline can be written after exit (as Trio's) and fires nothing
      cm.deadline = now() + 0.02
      corral.sleep(1)
      assert.is_false(cm.cancel_called)
    end)
  end)

  it("test_timeout_expired", function()
    vrun(function()
      local cm
      corral.scope(function(s) cm = s; corral.sleep(1) end, { timeout = 0.01 })
      cm.deadline = now() + 0.02 -- (asyncio: RuntimeError "expired")
      assert.is_true(cm.cancel_called)
      assert.is_true(cm.cancel_caught)
    end)
  end)

  it("test_timeout_expiring", function()
    vrun(function()
      local cm, again
      corral.scope(function(s)
        cm = s
        local ok, c = pcall(corral.sleep, 1)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        -- asyncio: reschedule() raises RuntimeError "expiring". A corral scope is
        -- cancelled once: moving its deadline later does not revive it.
        s.deadline = now() + 100
        again = select(2, pcall(corral.sleep, 1))
      end, { timeout = 0.01 })
      assert.is_true(corral.is_cancelled(again))
      assert.is_true(cm.cancel_called)
      assert.equal(0.01, now())
    end)
  end)

  it("test_timeout_taskgroup", function()
    vrun(function()
      -- a child crashes in its cleanup while the body's `finally` blocks: the
      -- group's ErrorGroup passes the timeout (no Timeout). asyncio's group holds the
      -- ZeroDivisionError only: the body's ValueError was replaced by the
      -- CancelledError its finally raised. A corral Cancelled never replaces a
      -- failure, so the body's ValueError is there too.
      local e = error_group(corral.fail_after, 0.01, function()
        corral.group(function(tg)
          tg:spawn(function()
            local _ <close> = closer(function() error("ZeroDivision", 0) end) -- crash in cleanup
            corral.sleep(2)
          end)
          local _ <close> = closer(function() corral.sleep(1) end)
          error("ValueError", 0)
        end)
      end)
      assert.same({ "ValueError", "ZeroDivision" }, leaves(e))
      assert.equal(0.01, now())
    end)
  end)
end)

describe("CPython test_waitfor", function()
  local raises = support.raises
  local EPSILON = 0.0001
  local TASK_TIMEOUT = 0.2

  local function timeout_of(...)
    local e = raises(...)
    assert(corral.is_timeout(e), "expected a Timeout, got: " .. tostring(e))
    return e
  end

  -- SlowTask: runs for TASK_TIMEOUT seconds, ignoring cancel requests. asyncio's
  -- swallows each CancelledError and sleeps again; a corral cancel is
  -- level-triggered, so ignoring it takes a shield.
  local function slow_task()
    local t = { exited = false }
    function t.run()
      local exitat = now() + TASK_TIMEOUT
      corral.scope(function() corral.sleep_until(exitat) end, { shield = true })
      t.exited = true
    end
    return t
  end

  -- wait_for(task, timeout) on a task that wait_for owns: fail_after around the
  -- group that runs it (on a timeout the task is cancelled and waited for).
  local function wait_for_task(expire, fn)
    local task
    local res = table.pack(pcall(expire, function()
      corral.group(function(g) task = g:spawn(fn) end)
    end))
    return task, table.unpack(res, 1, res.n)
  end

  it("test_asyncio_wait_for_cancelled", function()
    vrun(function()
      local t = slow_task()
      corral.group(function(g)
        local waitfortask = g:spawn(corral.fail_after, TASK_TIMEOUT * 2, t.run)
        corral.sleep(0)
        waitfortask:cancel()
        local ok, c = waitfortask:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.is_true(t.exited)
      end)
      assert.equal(TASK_TIMEOUT, now())
    end)
  end)

  it("test_asyncio_wait_for_timeout", function()
    vrun(function()
      -- the work ignores the timeout's cancel and ends: wait_for waits for it. The
      -- CPython test accepts a TimeoutError or none; corral returns normally, as for
      -- any body that never lets the scope's Cancelled reach it.
      local t = slow_task()
      assert.is_true(pcall(corral.fail_after, TASK_TIMEOUT / 2, t.run))
      assert.is_true(t.exited)
      assert.equal(TASK_TIMEOUT, now())
    end)
  end)

  it("test_wait_for_timeout_less_then_0_or_0_future_done", function()
    vrun(function()
      local fut = corral.channel(1)
      fut:send("done")
      -- asyncio returns a done future's result without waiting. corral's recv is a
      -- cancellation point, which raises in an expired scope even when a value is
      -- there; the ready value is taken with try_recv, which is not one.
      assert.equal("done", corral.fail_after(0, fut.try_recv, fut))
      assert.equal(0, now())
    end)
  end)

  it("test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started", function()
    vrun(function()
      -- asyncio does not start the coroutine at all. Entering a corral scope is not
      -- a cancellation point: the body runs up to its first one. A body without one
      -- (CPython's foo) returns; one with a checkpoint stops there.
      local foo_started = false
      assert.is_true(pcall(corral.fail_after, 0, function() foo_started = true end))
      assert.is_true(foo_started)
      local past_checkpoint = false
      timeout_of(corral.fail_after, 0, function() corral.checkpoint(); past_checkpoint = true end)
      assert.is_false(past_checkpoint)
      assert.equal(0, now())
    end)
  end)

  it("test_wait_for_timeout_less_then_0_or_0", function()
    vrun(function()
      -- timeout 0, and -1 (a corral deadline in the past: a negative timeout is a bad
      -- argument)
      local expired = {
        function(fn) return corral.fail_after(0, fn) end,
        function(fn) return corral.fail_at(now() - 1, fn) end,
      }
      for _, expire in ipairs(expired) do
        local foo_running
        local fut, ok, e = wait_for_task(expire, function()
          foo_running = true
          local _ <close> = closer(function() foo_running = false end)
          corral.sleep(10)
          return "done"
        end)
        assert.is_false(ok)
        assert.is_true(corral.is_timeout(e))
        assert.equal("cancelled", fut.status) -- cancelled due to the timeout
        assert.is_false(foo_running)
      end
      assert.equal(0, now())
    end)
  end)

  it("test_wait_for", function()
    vrun(function()
      local foo_running
      local fut, ok, e = wait_for_task(function(fn) return corral.fail_after(0.1, fn) end, function()
        foo_running = true
        local _ <close> = closer(function() foo_running = false end)
        corral.sleep(1e9)
        return "done"
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_timeout(e))
      assert.equal("cancelled", fut.status)
      assert.is_false(foo_running)
      assert.equal(0.1, now())
    end)
  end)

  it("test_wait_for_blocking", function()
    vrun(function()
      assert.equal("done", corral.fail_after(math.huge, function() return "done" end)) -- timeout=None
    end)
  end)

  it("test_wait_for_race_condition", function()
    vrun(function()
      local fut = corral.channel(1)
      corral.group(function(g)
        g:spawn(function() corral.sleep(0.1); fut:send("ok") end) -- loop.call_later(0.1, fut.set_result, "ok")
        assert.equal("ok", corral.fail_after(0.2, fut.recv, fut))
      end)
      assert.equal(0.1, now())
    end)
  end)

  it("test_wait_for_cancellation_race_condition", function()
    vrun(function()
      local result = corral.fail_after(0.01, function()
        local ok, c = pcall(corral.sleep, 1)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        return 1
      end)
      assert.equal(1, result)
    end)
  end)

  -- inner() of the next two: catches its cancel, waits a little more, re-raises
  local function slow_to_cancel(flags)
    return function()
      local _ <close> = closer(function() flags.task_done = true end)
      local _, c = pcall(corral.sleep, 10)
      corral.scope(function() corral.sleep(EPSILON) end, { shield = true }) -- await sleep(EPSILON)
      error(c, 0)
    end
  end

  it("test_wait_for_waits_for_task_cancellation", function()
    vrun(function()
      local flags = {}
      local _, ok, e = wait_for_task(function(fn) return corral.fail_after(EPSILON, fn) end, slow_to_cancel(flags))
      assert.is_false(ok)
      assert.is_true(corral.is_timeout(e))
      assert.is_true(flags.task_done)
      assert.equal(EPSILON + EPSILON, now())
    end)
  end)

  it("test_wait_for_waits_for_task_cancellation_w_timeout_0", function()
    vrun(function()
      local flags = {}
      local _, ok, e = wait_for_task(function(fn) return corral.fail_after(0, fn) end, slow_to_cancel(flags))
      assert.is_false(ok)
      assert.is_true(corral.is_timeout(e))
      assert.is_true(flags.task_done)
      assert.equal(EPSILON, now())
    end)
  end)

  it("test_wait_for_reraises_exception_during_cancellation", function()
    vrun(function()
      local function inner()
        local _ <close> = closer(function() error("FooException", 0) end)
        corral.sleep(0.2)
      end
      -- the work itself under the timeout: its error passes unchanged
      assert.equal("FooException", raises(corral.fail_after, EPSILON, inner))
      -- the work in a task: the group's ErrorGroup holds it (never a Timeout)
      local _, ok, e = wait_for_task(function(fn) return corral.fail_after(EPSILON, fn) end, inner)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e))
      assert.same({ "FooException" }, e.errors)
    end)
  end)

  it("test_wait_for_self_cancellation", function()
    vrun(function()
      -- wait_for itself is cancellable even when the task it waits for would hold
      -- up its own cancellation: the waiting task is cancelled before it starts,
      -- and the inner task, which wait_for never got to cancel, runs on
      corral.group(function(g)
        local inner_task = g:spawn(function()
          for _ = 1, 3 do
            corral.scope(function() corral.sleep(0.3) end, { shield = true })
          end
          return 42
        end)
        local task = g:spawn(corral.fail_after, 0.1, inner_task.wait, inner_task)
        task:cancel()
        local ok, c = task:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.same({ true, 42 }, { inner_task:wait() })
      end)
      assert.equal(0.3 + 0.3 + 0.3, now())
    end)
  end)

  -- _test_cancel_wait_for: cancelling the wait must also cancel the task (bpo-23219)
  local function cancel_wait_for(timeout)
    vrun(function()
      corral.group(function(g)
        local task
        local wait = g:spawn(corral.fail_after, timeout, function()
          corral.group(function(inner) task = inner:spawn(function() corral.event():wait() end) end)
        end)
        blocked() -- loop.call_soon(wait.cancel)
        wait:cancel()
        local ok, c = wait:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal("cancelled", task.status)
      end)
    end)
  end

  it("test_cancel_blocking_wait_for", function() cancel_wait_for(math.huge) end)

  it("test_cancel_wait_for", function() cancel_wait_for(60.0) end)

  it("test_wait_for_cancel_suppressed", function()
    vrun(function()
      -- GH-86296: a task that suppresses its CancelledError and returns a value:
      -- wait_for returns the value, as asyncio.timeout does
      local res = corral.fail_after(0.1, function()
        local ok = pcall(corral.sleep, 10)
        if not ok then return 42 end
      end)
      assert.equal(42, res)
    end)
  end)

  it("test_wait_for_issue86296", function()
    vrun(function()
      -- the task is cancelled and does not run to completion, although what it
      -- waits for completes in the same loop cycle
      corral.group(function(g)
        local inner_task = g:spawn(function() return "done" end)
        local reached_end = false
        local task = g:spawn(function()
          corral.fail_after(100, inner_task.wait, inner_task)
          corral.sleep(1)
          reached_end = true
        end)
        assert.equal("scheduled", task.status)
        corral.sleep(0) -- run the task
        task:cancel()
        local ok, c = task:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.same({ true, "done" }, { inner_task:wait() })
        assert.is_false(reached_end)
      end)
      assert.equal(0, now())
    end)
  end)

  -- WaitForShieldTests: wait_for(asyncio.shield(task)). Waiting on a corral task
  -- never cancels it, so t:wait() under a timeout is the shielded wait.
  it("WaitForShieldTests.test_zero_timeout", function()
    vrun(function()
      corral.group(function(g)
        local task = g:spawn(function() corral.sleep(0.01); return "done" end)
        timeout_of(corral.fail_after, 0, task.wait, task)
        assert.equal("scheduled", task.status) -- running in the background, not cancelled
        corral.sleep(0.1)
        assert.equal("done", task.status)
      end)
    end)
  end)

  it("WaitForShieldTests.test_none_timeout", function()
    vrun(function()
      corral.group(function(g)
        local task = g:spawn(function() corral.sleep(0.1); return "done" end)
        assert.same({ true, "done" }, { corral.fail_after(math.huge, task.wait, task) })
        assert.equal("done", task.status)
      end)
    end)
  end)

  it("WaitForShieldTests.test_shielded_timeout", function()
    vrun(function()
      corral.group(function(g)
        local task = g:spawn(function() corral.sleep(0.1); return "done" end)
        timeout_of(corral.fail_after, 0.01, task.wait, task)
        assert.equal("waiting", task.status)
        assert.same({ true, "done" }, { task:wait() })
      end)
      assert.equal(0.1, now())
    end)
  end)
end)

describe("CPython test_locks", function()
  local raises = support.raises

  it("LockTests.test_repr", function()
    vrun(function()
      local lock = corral.lock()
      assert.equal("corral.Lock(free)", tostring(lock))
      lock:acquire()
      assert.matches("^corral%.Lock%(held by #%d+%)$", tostring(lock))
      lock:release()
    end)
  end)

  it("LockTests.test_acquire", function()
    vrun(function()
      -- asyncio's main task releases the lock on behalf of each holder; a corral lock
      -- is released by the task that holds it, so each holder waits for its turn to
      -- be over (step[i]) and releases it then
      local lock, result, step = corral.lock(), {}, {}
      for i = 1, 3 do step[i] = corral.event() end
      local function c(i)
        return function()
          lock:acquire()
          result[#result + 1] = i
          step[i]:wait()
          lock:release()
          return true
        end
      end
      corral.group(function(g)
        lock:acquire()
        local t1 = g:spawn(c(1))
        blocked() -- (one at a time, so that they queue in this order in any schedule)
        local t2 = g:spawn(c(2))
        blocked()
        assert.same({}, result)
        lock:release()
        blocked()
        assert.same({ 1 }, result)
        blocked()
        assert.same({ 1 }, result)
        local t3 = g:spawn(c(3))
        step[1]:set()
        blocked()
        assert.same({ 1, 2 }, result)
        step[2]:set()
        blocked()
        assert.same({ 1, 2, 3 }, result)
        step[3]:set()
        for _, t in ipairs({ t1, t2, t3 }) do assert.same({ true, true }, { t:wait() }) end
      end)
      assert.is_false(lock.locked)
    end)
  end)

  it("LockTests.test_acquire_cancel", function()
    vrun(function()
      local lock = corral.lock()
      lock:acquire()
      corral.group(function(g)
        local task = g:spawn(lock.acquire, lock)
        blocked()
        task:cancel()
        local ok, c = task:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal(0, lock.waiting) -- assertFalse(lock._waiters)
      end)
      lock:release()
    end)
  end)

  it("LockTests.test_cancel_race", function()
    vrun(function()
      -- A holds the lock, B and C wait; then, in one turn, A is let go (and will
      -- release) and B is cancelled: A's release must skip B and go to C
      local lock = corral.lock()
      local function lockit(blocker)
        return function() lock:with(function() if blocker then blocker:wait() end end) end
      end
      corral.group(function(g)
        local fa = corral.event()
        local ta = g:spawn(lockit(fa))
        blocked()
        assert.is_true(lock.locked)
        local tb = g:spawn(lockit(nil))
        blocked()
        assert.equal(1, lock.waiting)
        local tc = g:spawn(lockit(nil))
        blocked()
        assert.equal(2, lock.waiting)
        fa:set()
        tb:cancel()
        blocked()
        assert.equal("done", ta.status)
        assert.equal("cancelled", tb.status)
        assert.same({ true }, { tc:wait() })
      end)
      assert.is_false(lock.locked)
    end)
  end)

  it("LockTests.test_cancel_release_race (bpo-32734)", function()
    vrun(function()
      -- four acquires, the second cancelled and the first released at once: one
      -- lock is taken, not two
      local lock, hold = corral.lock(), corral.event()
      local lock_count, call_count = 0, 0
      local function lockit()
        call_count = call_count + 1
        lock:with(function() lock_count = lock_count + 1; hold:wait() end)
      end
      corral.group(function(g)
        lock:acquire()
        local ts = {}
        for i = 1, 3 do
          ts[i] = g:spawn(lockit)
          blocked() -- (one at a time, so that they queue in this order in any schedule)
        end
        local t1, t2, t3 = ts[1], ts[2], ts[3]
        t1:cancel() -- trigger()
        lock:release()
        blocked()
        assert.equal(1, lock_count)
        assert.equal(3, call_count)
        assert.equal("cancelled", t1.status)
        assert.equal("waiting", t2.status) -- t2 holds the lock
        assert.equal(1, lock.waiting) -- t3 is stuck in acquire
        t3:cancel()
        hold:set()
      end)
      assert.equal(1, lock_count)
      assert.is_false(lock.locked)
    end)
  end)

  it("LockTests.test_release_not_acquired", function()
    vrun(function()
      assert.matches("the lock is not held", raises(corral.lock().release, corral.lock()))
    end)
  end)

  it("LockTests.test_release_no_waiters", function()
    vrun(function()
      local lock = corral.lock()
      lock:acquire()
      assert.is_true(lock.locked)
      lock:release()
      assert.is_false(lock.locked)
    end)
  end)

  it("LockTests.test_context_manager", function()
    vrun(function()
      local lock = corral.lock()
      assert.is_false(lock.locked)
      lock:with(function() assert.is_true(lock.locked) end)
      assert.is_false(lock.locked)
    end)
  end)

  it("EventTests.test_repr", function()
    vrun(function()
      local ev = corral.event()
      assert.equal("corral.Event(not set)", tostring(ev))
      corral.group(function(g)
        g:spawn(ev.wait, ev)
        blocked()
        assert.equal("corral.Event(not set, 1 waiting)", tostring(ev))
        ev:set()
      end)
      assert.equal("corral.Event(set)", tostring(ev))
    end)
  end)

  it("EventTests.test_wait", function()
    vrun(function()
      local ev, result = corral.event(), {}
      assert.is_false(ev:is_set())
      local function c(i) return function() ev:wait(); result[#result + 1] = i end end
      corral.group(function(g)
        local t1, t2 = g:spawn(c(1)), g:spawn(c(2))
        blocked()
        assert.same({}, result)
        local t3 = g:spawn(c(3))
        ev:set()
        blocked()
        -- asyncio gives [3, 1, 2]; the order of tasks ready at once is the
        -- scheduler's (a seeded run shuffles it)
        assert.same({ 1, 2, 3 }, support.sorted(result))
        for _, t in ipairs({ t1, t2, t3 }) do assert.equal("done", t.status) end
      end)
    end)
  end)

  it("EventTests.test_wait_on_set", function()
    vrun(function()
      local ev = corral.event()
      ev:set()
      ev:wait()
      assert.is_true(ev:is_set())
      assert.equal(0, now())
    end)
  end)

  it("EventTests.test_wait_cancel", function()
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        local wait = g:spawn(ev.wait, ev)
        blocked()
        wait:cancel()
        local ok, c = wait:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal(0, ev.waiting)
      end)
    end)
  end)

  it("SemaphoreTests.test_initial_value_zero", function()
    vrun(function()
      local sem = corral.semaphore(0)
      assert.equal(0, sem.value)
      assert.is_false(sem:try_acquire()) -- sem.locked()
    end)
  end)

  it("SemaphoreTests.test_repr", function()
    vrun(function()
      local sem = corral.semaphore(1)
      assert.equal("corral.Semaphore(1 permit)", tostring(sem))
      sem:acquire()
      assert.equal("corral.Semaphore(0 permits)", tostring(sem))
      corral.group(function(g)
        g:spawn(sem.acquire, sem)
        g:spawn(sem.acquire, sem)
        blocked()
        assert.equal("corral.Semaphore(0 permits, 2 waiting)", tostring(sem))
        sem:release()
        sem:release()
      end)
    end)
  end)

  it("SemaphoreTests.test_semaphore_value", function()
    vrun(function()
      assert.matches("permits must be >= 0", raises(corral.semaphore, -1))
    end)
  end)

  it("SemaphoreTests.test_acquire", function()
    vrun(function()
      local sem, result = corral.semaphore(3), {}
      sem:acquire()
      sem:acquire()
      assert.equal(1, sem.value) -- not locked
      local function c(i) return function() sem:acquire(); result[#result + 1] = i; return true end end
      corral.group(function(g)
        local t1, t2, t3 = g:spawn(c(1)), g:spawn(c(2)), g:spawn(c(3))
        blocked()
        assert.equal(1, #result)
        assert.equal(2, sem.waiting)
        assert.equal(0, sem.value)
        local t4 = g:spawn(c(4))
        sem:release()
        sem:release()
        assert.equal(0, sem.value) -- each went to a waiter
        blocked()
        assert.equal(0, sem.value)
        assert.equal(3, #result)
        assert.equal(1, sem.waiting)
        -- asyncio: two of t2, t3, t4; corral hands each permit to the longest
        -- waiter, and t4 came after the other two
        local done = 0
        for _, t in ipairs({ t1, t2, t3, t4 }) do if t.status == "done" then done = done + 1 end end
        assert.equal(3, done)
        assert.equal("waiting", t4.status)
        sem:release() -- cleanup
      end)
      assert.same({ 1, 2, 3, 4 }, support.sorted(result))
    end)
  end)

  it("SemaphoreTests.test_acquire_cancel", function()
    vrun(function()
      local sem = corral.semaphore(1)
      sem:acquire()
      corral.group(function(g)
        local acquire = g:spawn(sem.acquire, sem)
        blocked()
        acquire:cancel()
        local ok, c = acquire:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal(0, sem.waiting)
        assert.equal(0, sem.value)
      end)
    end)
  end)

  it("SemaphoreTests.test_acquire_cancel_before_awoken", function()
    vrun(function()
      local sem = corral.semaphore(0)
      corral.group(function(g)
        local ts = {}
        for i = 1, 4 do
          ts[i] = g:spawn(sem.acquire, sem)
          blocked() -- (one at a time, so that they queue in this order in any schedule)
        end
        ts[1]:cancel()
        ts[2]:cancel()
        sem:release()
        blocked()
        assert.equal("done", ts[3].status)
        assert.equal("waiting", ts[4].status)
        ts[4]:cancel()
      end)
      assert.equal(0, sem.value)
    end)
  end)

  it("SemaphoreTests.test_release_no_waiters", function()
    vrun(function()
      local sem = corral.semaphore(1)
      sem:acquire()
      assert.equal(0, sem.value)
      sem:release()
      assert.equal(1, sem.value)
    end)
  end)

  it("SemaphoreTests.test_acquire_fifo_order", function()
    vrun(function()
      local sem, result = corral.semaphore(1), {}
      corral.group(function(tg)
        for _, tag in ipairs({ "c1", "c2", "c3" }) do
          tg:spawn(function()
            for round = 1, 2 do
              sem:acquire()
              result[#result + 1] = tag .. "_" .. round
              corral.sleep(0.01)
              sem:release()
            end
          end)
        end
      end)
      -- asyncio: c1_1, c2_1, c3_1, c1_2, c2_2, c3_2. Which task asks first is the
      -- schedule's (a seeded run shuffles it); the second round keeps the first's
      -- order.
      assert.equal(6, #result)
      for i = 1, 3 do assert.equal((result[i]:gsub("_1$", "_2")), result[i + 3]) end
    end)
  end)

  it("SemaphoreTests.test_acquire_fifo_order_2", function()
    vrun(function()
      local sem, result = corral.semaphore(1), {}
      corral.group(function(g)
        g:spawn(function() sem:acquire(); result[#result + 1] = 1 end)
        blocked()
        g:spawn(function()
          sem:acquire()
          result[#result + 1] = 2
          sem:release()
          sem:acquire()
          result[#result + 1] = 4
        end)
        blocked()
        g:spawn(function() sem:acquire(); result[#result + 1] = 3 end)
        blocked()
        sem:release()
        sem:release()
      end)
      -- asyncio gives [1, 2, 3, 4]: its acquire makes way for woken waiters that
      -- have not run yet. corral hands each released permit to a waiter at once,
      -- so when c2 releases and acquires again, c3 already holds its permit and c2
      -- takes the free one: nobody is overtaken, and the order of the woken is the
      -- schedule's.
      assert.equal(1, result[1])
      assert.same({ 1, 2, 3, 4 }, support.sorted(result))
      local at = {}
      for i, v in ipairs(result) do at[v] = i end
      assert.is_true(at[2] < at[4])
      assert.equal(0, sem.value)
    end)
  end)

  it("SemaphoreTests.test_acquire_fifo_order_4", function()
    vrun(function()
      -- a release wakes the waiter, and the rest of the permits go to whoever asks
      local sem, result, t4 = corral.semaphore(0), {}, nil
      corral.group(function(g)
        g:spawn(function()
          assert.equal(0, sem.value)
          sem:acquire() -- woken by c2
          assert.equal(0, sem.waiting) -- nobody left waiting
          t4 = g:spawn(function() result[#result + 1] = 4 end)
          result[#result + 1] = 1
        end)
        blocked()
        g:spawn(function()
          sem:release()
          sem:release()
          sem:release()
          -- one went straight to c1, as in asyncio; asyncio still reads locked()
          -- until c1 runs, corral's other two permits are free
          assert.equal(2, sem.value)
          sem:acquire()
          result[#result + 1] = 2
        end)
        blocked() -- (c2 first in any schedule, as asyncio's creation order has it)
        g:spawn(function()
          sem:acquire()
          assert.equal(0, sem.value) -- locked
          result[#result + 1] = 3
        end)
      end)
      assert.equal("done", t4.status)
      assert.same({ 1, 2, 3, 4 }, support.sorted(result))
      assert.equal(0, sem.value)
    end)
  end)
end)

describe("CPython test_queues", function()
  local raises = support.raises

  it("QueueBasicTests.test_repr", function()
    vrun(function()
      -- (and test_str)
      local q = corral.channel(math.huge)
      assert.equal("corral.Channel(0/unbounded)", tostring(q))
      corral.group(function(tg)
        local getter = tg:spawn(q.recv, q)
        blocked()
        assert.equal(1, q.receivers_waiting) -- '_getters[1]'
        q:send(0)
        assert.same({ true, 0 }, { getter:wait() })
      end)
      q = corral.channel(1)
      corral.group(function(tg)
        q:send(1)
        local putter = tg:spawn(q.send, q, 2)
        blocked()
        assert.equal(1, q.senders_waiting) -- '_putters[1]'
        assert.equal(1, q:try_recv())
        blocked()
        assert.equal("done", putter.status)
      end)
      q = corral.channel(math.huge)
      q:send(1)
      assert.equal("corral.Channel(1/unbounded)", tostring(q)) -- '_queue=[1]'
    end)
  end)

  it("QueueBasicTests.test_empty", function()
    vrun(function()
      local q = corral.channel(math.huge)
      assert.equal(0, #q)
      q:send(1)
      assert.equal(1, #q)
      assert.equal(1, q:recv())
      assert.equal(0, #q)
    end)
  end)

  it("QueueBasicTests.test_full", function()
    vrun(function()
      local q = corral.channel(math.huge)
      assert.is_true(q:try_send(1)) -- never full
      q = corral.channel(1)
      q:send(1)
      assert.equal(q.capacity, #q)
      assert.is_false(q:try_send(2))
    end)
  end)

  it("QueueBasicTests.test_order", function()
    vrun(function()
      local q = corral.channel(math.huge)
      for _, i in ipairs({ 1, 3, 2 }) do q:send(i) end
      assert.same({ 1, 3, 2 }, { q:recv(), q:recv(), q:recv() })
    end)
  end)

  it("QueueBasicTests.test_maxsize", function()
    vrun(function()
      local q, have_been_put = corral.channel(2), {}
      assert.equal(2, q.capacity)
      corral.group(function(g)
        local t = g:spawn(function()
          for i = 0, 2 do
            q:send(i)
            have_been_put[#have_been_put + 1] = i
          end
          return true
        end)
        blocked()
        assert.same({ 0, 1 }, have_been_put) -- the putter is blocked after two
        assert.equal(0, q:recv())
        blocked()
        assert.same({ 0, 1, 2 }, have_been_put)
        assert.equal(1, q:recv())
        assert.equal(2, q:recv())
        assert.same({ true, true }, { t:wait() })
      end)
    end)
  end)

  it("QueueGetTests.test_blocking_get", function()
    vrun(function()
      local q = corral.channel(math.huge)
      q:send(1)
      assert.equal(1, q:recv())
    end)
  end)

  it("QueueGetTests.test_get_with_putters", function()
    vrun(function()
      local q = corral.channel(1)
      q:send(1)
      corral.group(function(g)
        local putter = g:spawn(q.send, q, 2)
        blocked()
        assert.equal(1, q:recv())
        blocked()
        assert.equal("done", putter.status) -- the putter's wait ended with the get
        assert.equal(2, q:recv())
      end)
    end)
  end)

  it("QueueGetTests.test_blocking_get_wait", function()
    vrun(function()
      local q, started, finished = corral.channel(math.huge), corral.event(), false
      corral.group(function(g)
        local task = g:spawn(function()
          started:set()
          local res = q:recv()
          finished = true
          return res
        end)
        started:wait()
        assert.is_false(finished)
        g:spawn(function() corral.sleep(0.01); q:send(1) end) -- loop.call_later(0.01, ...)
        assert.same({ true, 1 }, { task:wait() })
        assert.is_true(finished)
      end)
      assert.equal(0.01, now())
    end)
  end)

  it("QueueGetTests.test_nonblocking_get", function()
    vrun(function()
      local q = corral.channel(math.huge)
      q:send(1)
      assert.equal(1, q:try_recv())
    end)
  end)

  it("QueueGetTests.test_nonblocking_get_exception", function()
    vrun(function()
      assert.same({ nil, "empty" }, { corral.channel(math.huge):try_recv() }) -- QueueEmpty
    end)
  end)

  it("QueueGetTests.test_get_with_waiting_putters", function()
    vrun(function()
      local q = corral.channel(1)
      corral.group(function(g)
        g:spawn(q.send, q, "a")
        blocked() -- (one at a time, so that they queue in this order in any schedule)
        g:spawn(q.send, q, "b")
        blocked()
        assert.equal("a", q:recv())
        assert.equal("b", q:recv())
      end)
    end)
  end)

  it("QueueGetTests.test_why_are_getters_waiting", function()
    vrun(function()
      local q, got = corral.channel(1), 0
      corral.group(function(tg)
        tg:spawn(function() for i = 1, 5 do q:send(i) end end)
        tg:spawn(function() for _ = 1, 5 do q:recv(); got = got + 1 end end)
      end)
      assert.equal(5, got)
    end)
  end)

  it("QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters", function()
    vrun(function()
      local q = corral.channel(5)
      assert.is_true(corral.is_timeout(raises(corral.fail_after, 0.1, q.recv, q)))
      assert.equal(0, q.receivers_waiting)
    end)
  end)

  it("QueuePutTests.test_blocking_put", function()
    vrun(function()
      local q = corral.channel(math.huge)
      q:send(1) -- no maxsize, won't block
      assert.equal(1, q:recv())
    end)
  end)

  it("QueuePutTests.test_blocking_put_wait", function()
    vrun(function()
      local q, started, finished = corral.channel(1), corral.event(), false
      corral.group(function(g)
        g:spawn(function() corral.sleep(0.01); q:try_recv() end) -- loop.call_later(0.01, q.get_nowait)
        local task = g:spawn(function()
          started:set()
          q:send(1)
          q:send(2)
          finished = true
        end)
        started:wait()
        assert.is_false(finished)
        task:wait()
        assert.is_true(finished)
      end)
      assert.equal(0.01, now())
    end)
  end)

  it("QueuePutTests.test_nonblocking_put", function()
    vrun(function()
      local q = corral.channel(math.huge)
      assert.is_true(q:try_send(1))
      assert.equal(1, q:try_recv())
    end)
  end)

  it("QueuePutTests.test_get_cancel_drop_one_pending_reader", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local reader = g:spawn(q.recv, q)
        blocked()
        q:try_send(1)
        q:try_send(2)
        reader:cancel()
        local ok, v = reader:wait()
        if not ok then
          reader = g:spawn(q.recv, q) -- try again
          ok, v = reader:wait()
        end
        assert.is_true(ok)
        assert.equal(1, v) -- if we get 2, it means 1 got dropped!
      end)
    end)
  end)

  it("QueuePutTests.test_get_cancel_drop_many_pending_readers", function()
    vrun(function()
      -- asyncio's cancelled reader1 has not taken its item yet: the wake-up passes
      -- to reader3, and reader1 ends cancelled. A corral send hands the item to the
      -- waiting reader at once, and a cancel that comes after that is too late for
      -- that recv: reader1 ends done with its item, reader3 still waits (and is
      -- cancelled here). Either way nothing is dropped.
      local q = corral.channel(math.huge)
      local readers = {}
      corral.group(function(tg)
        for i = 1, 3 do
          readers[i] = tg:spawn(q.recv, q)
          blocked() -- (one at a time, so that they queue in this order in any schedule)
        end
        q:try_send(1)
        q:try_send(2)
        readers[1]:cancel()
        readers[1]:wait()
        blocked()
        assert.equal(1, q.receivers_waiting)
        readers[3]:cancel()
      end)
      -- it is undefined in which order concurrent readers receive results
      local got = {}
      for _, r in ipairs(readers) do
        local ok, v = r:wait()
        if ok then got[#got + 1] = v end
      end
      assert.same({ 1, 2 }, support.sorted(got))
      assert.equal(0, #q)
    end)
  end)

  it("QueuePutTests.test_put_cancel_drop", function()
    vrun(function()
      local q = corral.channel(1)
      q:send(1)
      corral.group(function(g)
        local writer = g:spawn(q.send, q, 2) -- has to block
        blocked()
        assert.equal(1, q:try_recv())
        writer:cancel()
        if not writer:wait() then
          writer = g:spawn(q.send, q, 2) -- try again
          writer:wait()
        end
      end)
      assert.equal(2, q:try_recv())
      assert.equal(0, #q)
    end)
  end)

  it("QueuePutTests.test_nonblocking_put_exception", function()
    vrun(function()
      local q = corral.channel(1)
      assert.is_true(q:try_send(1))
      assert.is_false(q:try_send(2)) -- QueueFull
    end)
  end)

  it("QueuePutTests.test_float_maxsize", function()
    vrun(function()
      -- asyncio rounds maxsize=1.3 up to room for 2; a corral capacity is an integer
      assert.matches("bad argument #1 to 'corral.channel'", raises(corral.channel, 1.3))
      local q = corral.channel(2)
      q:send(1)
      q:send(2)
      assert.is_false(q:try_send(3))
    end)
  end)

  it("QueuePutTests.test_put_cancelled", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function() q:send(1); return true end)
        assert.equal(1, q:recv())
        assert.same({ true, true }, { t:wait() })
      end)
    end)
  end)

  it("QueuePutTests.test_put_with_waiting_getters", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(q.recv, q)
        blocked()
        q:send("a")
        assert.same({ true, "a" }, { t:wait() })
      end)
    end)
  end)

  it("QueuePutTests.test_why_are_putters_waiting", function()
    vrun(function()
      local q = corral.channel(2)
      local putters = {}
      corral.group(function(tg)
        tg:spawn(function()
          blocked() -- asyncio's sleep(0): the putters have run
          for _ = 1, #q do q:try_recv() end
        end)
        for i = 0, 3 do putters[#putters + 1] = tg:spawn(q.send, q, i) end
      end)
      for _, t in ipairs(putters) do assert.equal("done", t.status) end
      assert.equal(2, #q)
    end)
  end)

  it("QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters", function()
    vrun(function()
      local q = corral.channel(1)
      q:send(1)
      corral.group(function(g)
        local put_task = g:spawn(q.send, q, 1)
        blocked()
        assert.equal(1, q.senders_waiting)
        put_task:cancel()
        local ok, c = put_task:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(c))
        assert.equal(0, q.senders_waiting)
      end)
    end)
  end)

  it("QueuePutTests.test_cancelled_put_silence_value_error_exception", function()
    vrun(function()
      local q = corral.channel(1)
      q:send(1)
      corral.group(function(g)
        local put_task = g:spawn(q.send, q, 1)
        blocked()
        q:try_recv() -- frees the slot the putter waits for
        put_task:cancel()
        -- asyncio's put had not run yet: it raises CancelledError (and no
        -- ValueError). The freed corral slot took the putter's value at once, so
        -- the cancel comes too late for that send: the task ends done, and the
        -- value is in the channel.
        assert.same({ true }, { put_task:wait() })
        assert.equal(1, #q)
      end)
    end)
  end)

  it("QueueJoinTests.test_task_done", function()
    vrun(function()
      -- join() and task_done() have no corral analogue: two workers drain a closed
      -- channel in a group, and the group's exit is the join
      local q, accumulator = corral.channel(math.huge), 0
      for i = 0, 99 do q:send(i) end
      q:close()
      corral.group(function(tg)
        for _ = 1, 2 do
          tg:spawn(function() for item in q:iter() do accumulator = accumulator + item; corral.checkpoint() end end)
        end
      end)
      assert.equal(4950, accumulator)
    end)
  end)

  -- Queue.shutdown(immediate=False) is corral's ch:close(): puts raise, gets drain
  -- what is buffered, then a corral recv returns nil where asyncio's get raises
  -- QueueShutDown
  local function assert_shut_down(q)
    assert.matches("the channel is closed", raises(q.send, q, "data"))
    assert.matches("the channel is closed", raises(q.try_send, q, "data"))
    assert.is_nil(q:recv())
    assert.same({ nil, "closed" }, { q:try_recv() })
  end

  it("QueueShutdownTests.test_shutdown_empty", function()
    vrun(function()
      local q = corral.channel(math.huge)
      corral.group(function(g)
        local get_task = g:spawn(function() return "got", q:recv() end)
        blocked() -- the get is pending before the shutdown
        q:close()
        assert.equal(0, #q)
        blocked()
        assert.equal("done", get_task.status)
        assert.same({ true, "got" }, { get_task:wait() })
        assert_shut_down(q)
      end)
    end)
  end)

  it("QueueShutdownTests.test_shutdown_nonempty", function()
    vrun(function()
      local q = corral.channel(1)
      q:send("data")
      corral.group(function(g)
        local put_task = g:spawn(function() return pcall(q.send, q, "data2") end)
        blocked()
        assert.equal("waiting", put_task.status)
        q:close()
        assert.equal(1, #q)
        blocked()
        local _, sent, e = put_task:wait()
        assert.is_false(sent)
        assert.matches("the channel is closed", e)
        assert.equal("data", q:recv()) -- the get succeeds on the enqueued item
        assert_shut_down(q)
      end)
    end)
  end)
end)
