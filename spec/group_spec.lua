-- spec/group_spec.lua: task groups (docs/model.md): spawn, start, results, the
-- failure policies, cancel, stop, limit, max_errors, nesting and closed groups.
local corral = require "corral"
local support = require "support"

local vrun, now, sleeper = support.vrun, corral.now, support.sleeper

describe("corral.group", function()
  describe("results", function()
    it("returns the body's results once every child has finished", function()
      local log = support.log()
      local r
      vrun(function()
        r = table.pack(corral.group(function(g)
          g:spawn(function() corral.sleep(2); log:stamp("child done") end)
          log:stamp("body returns")
          return "a", nil, 3
        end))
        log:stamp("group returned")
      end)
      assert.same({ n = 3, "a", nil, 3 }, r)
      assert.same({ "body returns@0", "child done@2", "group returned@2" }, log.items)
    end)

    it("returns the body's results when the body returned before a cancel reached it", function()
      local log = support.log()
      local r, grp
      vrun(function()
        r = table.pack(corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1); g:cancel("enough") end)
          g:spawn(sleeper(log, "sibling cancelled"))
          return "early", "values"
        end))
        log:stamp("group returned")
      end)
      assert.same({ n = 2, "early", "values" }, r)
      assert.same({ "sibling cancelled@1", "group returned@1" }, log.items)
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("returns nothing when cancellation interrupted the body", function()
      local log = support.log()
      local r
      vrun(function()
        r = table.pack(corral.group(function(g)
          g:spawn(function() corral.sleep(1); g:cancel() end)
          corral.sleep(5)
          log:add("unreached")
          return "never"
        end))
        log:stamp("group returned")
      end)
      assert.equal(0, r.n)
      assert.same({ "group returned@1" }, log.items)
    end)
  end)

  describe("spawn", function()
    it("starts children on a later turn than the spawn, in spawn order #fifo", function()
      local log = support.log()
      vrun(function()
        corral.group(function(g)
          for i = 1, 5 do g:spawn(function() log:add(i) end) end
          log:add("body done spawning")
        end)
      end)
      assert.same({ "body done spawning", 1, 2, 3, 4, 5 }, log.items)
    end)

    it("passes the extra arguments to the child, nils included", function()
      local got
      vrun(function()
        corral.group(function(g)
          g:spawn(function(...) got = table.pack(...) end, "x", nil, 3)
        end)
      end)
      assert.same({ n = 3, "x", nil, 3 }, got)
    end)

    it("accepts {fn, name = ...} to name the child", function()
      local t, got
      vrun(function()
        corral.group(function(g)
          t = g:spawn({ function(a, b) got = a + b end, name = "adder" }, 2, 3)
        end)
      end)
      assert.equal("adder", t.name)
      assert.equal(5, got)
    end)

    it("returns the Task, which belongs to the group", function()
      local t, grp
      vrun(function()
        corral.group(function(g)
          grp = g
          t = g:spawn(function() end)
        end)
      end)
      assert.equal(grp, t.group)
      assert.equal("done", t.status)
    end)

    it("lets a child spawn siblings while the body waits for the group", function()
      local log = support.log()
      vrun(function()
        corral.group(function(g)
          g:spawn(function()
            corral.sleep(1)
            g:spawn(function() corral.sleep(1); log:stamp("late sibling") end)
          end)
        end)
        log:stamp("group exited")
      end)
      assert.same({ "late sibling@2", "group exited@2" }, log.items)
    end)
  end)

  describe("start", function()
    it("blocks until the child calls ready(v) and returns v; the child runs on in the group", function()
      local log = support.log()
      local v
      vrun(function()
        corral.group(function(g)
          v = g:start(function(ready, a, b)
            corral.sleep(1)
            ready(a + b)
            corral.sleep(1)
            log:stamp("child finished")
          end, 2, 3)
          log:stamp("start returned")
        end)
        log:stamp("group exited")
      end)
      assert.equal(5, v)
      assert.same({ "start returned@1", "child finished@2", "group exited@2" }, log.items)
    end)

    it("raises the child's failure before ready, and it is not also a failure of the group", function()
      local thrown = { "setup failed" }
      local log = support.log()
      local ok, err
      vrun(function()
        corral.group(function(g)
          g:spawn(function() corral.sleep(3); log:stamp("sibling not cancelled") end)
          ok, err = pcall(g.start, g, function(ready)
            corral.sleep(1)
            error(thrown)
          end)
          log:stamp("start raised")
        end)
        log:stamp("group exited without raising")
      end)
      assert.is_false(ok)
      assert.is_true(rawequal(thrown, err))
      assert.same({ "start raised@1", "sibling not cancelled@3", "group exited without raising@3" }, log.items)
    end)

    it("a child before ready is already g's: t.group, g:tasks(), and what it spawns there", function()
      local seen, ok, err
      vrun(function()
        ok, err = pcall(corral.group, function(g)
          g:start(function(ready)
            local me = corral.current_task()
            seen = { me.group == g, #g:tasks() }
            me.group:spawn({ function() error("spawned before ready", 0) end, name = "early" })
            corral.sleep(1)
            ready()
          end)
        end)
      end)
      assert.same({ true, 1 }, seen)
      assert.is_false(ok)
      assert.same({ "early" }, err.tasks)       -- a failure of g, as any child's
      assert.same({ "spawned before ready" }, err.errors)
    end)

    it("raises an error naming ready when the child returns without calling it", function()
      local ok, err
      vrun(function()
        corral.group(function(g)
          ok, err = pcall(g.start, g, function() corral.sleep(1) end)
        end)
      end)
      assert.is_false(ok)
      support.assert_mentions(err, "ready")
    end)

    it("a second ready raises in the child, and start keeps the first value", function()
      local v, ok2, err2
      vrun(function()
        corral.group(function(g)
          v = g:start(function(ready)
            ready("first")
            ok2, err2 = pcall(ready, "second")
          end)
        end)
      end)
      assert.equal("first", v)
      assert.is_false(ok2)
      support.assert_mentions(err2, "ready")
    end)

    it("cancels the child when the caller is cancelled while waiting", function()
      local log = support.log()
      local r, child
      vrun(function()
        corral.group(function(g)
          r = table.pack(corral.move_on_after(1, function()
            return g:start(function(ready)
              child = corral.current_task()
              local ok, e = pcall(corral.sleep, 5)
              log:stamp(corral.is_cancelled(e) and "child cancelled" or "child not cancelled")
              if not ok then error(e, 0) end
              ready("too late")
            end)
          end))
          log:stamp("caller moved on")
        end)
      end)
      assert.same({ n = 1, false }, r)
      assert.same({ "caller moved on@1", "child cancelled@1" }, log:sorted())
      assert.equal("cancelled", child.status)
    end)
  end)

  describe("default failure policy", function()
    it("a child failure cancels the siblings and the body; the group raises an ErrorGroup of it", function()
      local log = support.log()
      local eg
      vrun(function()
        local ok, e = pcall(corral.group, function(g)
          g:spawn({ function() corral.sleep(1); error("boom", 0) end, name = "bad" })
          g:spawn({ sleeper(log, "sibling cancelled"), name = "sibling" })
          sleeper(log, "body cancelled")()
          log:add("unreached: body after its Cancelled")
        end)
        eg = e
        log:stamp("group raised")
      end)
      assert.is_true(corral.is_error_group(eg))
      assert.equal(1, #eg)
      assert.same({ "boom" }, eg.errors)
      assert.same({ "bad" }, eg.tasks)
      assert.same({ "body cancelled@1", "group raised@1", "sibling cancelled@1" }, log:sorted())
      assert.equal("group raised@1", log.items[3])
    end)

    it("collects the failures raised while cancelling too, after the first one", function()
      local log = support.log()
      local eg = support.error_group(vrun, function()
        corral.group(function(g)
          g:spawn({ function() corral.sleep(1); error("first", 0) end, name = "first" })
          g:spawn({ function()
            local _ <close> = support.closer(function(e)
              log:add(corral.is_cancelled(e) and "closing after Cancelled" or "closing without Cancelled")
              error("cleanup failed", 0)
            end)
            corral.sleep(math.huge)
          end, name = "closer" })
          g:spawn({ function()
            pcall(corral.sleep, math.huge)
            error("failed while cancelled", 0)
          end, name = "stubborn" })
        end)
      end)
      assert.same({ "closing after Cancelled" }, log.items)
      assert.equal(3, #eg)
      assert.equal("first", eg.errors[1])
      assert.equal("first", eg.tasks[1])
      -- "closer" and "stubborn" fail in the same turn; their relative order is not pinned.
      assert.same({ "cleanup failed", "failed while cancelled" }, support.sorted({ eg.errors[2], eg.errors[3] }))
      assert.same({ "closer", "stubborn" }, support.sorted({ eg.tasks[2], eg.tasks[3] }))
    end)

    it("a failing body makes the group raise an ErrorGroup (never a bare error) and cancels the children", function()
      local thrown = { "body broke" }
      local log = support.log()
      local eg
      vrun(function()
        corral.group(function(outer)
          outer:spawn({ function()
            local ok, e = pcall(corral.group, function(g)
              g:spawn(sleeper(log, "child cancelled"))
              corral.sleep(1)
              error(thrown)
            end)
            eg = e
            log:stamp("group raised")
          end, name = "runner" })
        end)
      end)
      assert.is_true(corral.is_error_group(eg))
      assert.equal(1, #eg)
      assert.is_true(rawequal(thrown, eg.errors[1]))
      assert.same({ "runner" }, eg.tasks) -- the body ran in the task named "runner"
      assert.same({ "child cancelled@1", "group raised@1" }, log.items)
    end)

    it("a failing body has its <close> variables run", function()
      local log = support.log()
      support.error_group(vrun, function()
        corral.group(function()
          local _ <close> = support.closer(function(e) log:add("closed with " .. tostring(e)) end)
          corral.sleep(1)
          error("body broke", 0)
        end)
      end)
      assert.same({ "closed with body broke" }, log.items)
    end)
  end)

  describe("defer_errors", function()
    it("lets siblings and the body finish, then raises every failure together", function()
      local log = support.log()
      local eg
      vrun(function()
        local ok, e = pcall(corral.group, function(g)
          g:spawn({ function() corral.sleep(1); error("a failed", 0) end, name = "a" })
          g:spawn({ function() corral.sleep(2); error("b failed", 0) end, name = "b" })
          g:spawn({ function() corral.sleep(3); log:stamp("c done") end, name = "c" })
          corral.sleep(4)
          log:stamp("body done")
        end, { defer_errors = true })
        eg = e
        log:stamp("group raised")
      end)
      assert.same({ "c done@3", "body done@4", "group raised@4" }, log.items)
      assert.is_true(corral.is_error_group(eg))
      assert.same({ "a failed", "b failed" }, eg.errors)
      assert.same({ "a", "b" }, eg.tasks)
    end)

    it("an error raised by the body still cancels the children", function()
      local log = support.log()
      local eg
      vrun(function()
        local ok, e = pcall(corral.group, function(g)
          g:spawn(sleeper(log, "child cancelled"))
          corral.sleep(1)
          error("body broke", 0)
        end, { defer_errors = true })
        eg = e
        log:stamp("group raised")
      end)
      assert.same({ "child cancelled@1", "group raised@1" }, log.items)
      assert.is_true(corral.is_error_group(eg))
      assert.same({ "body broke" }, eg.errors)
    end)

    it("cancelling an enclosing scope still cancels the children", function()
      local log = support.log()
      local r
      vrun(function()
        r = table.pack(corral.move_on_after(2, function()
          corral.group(function(g)
            g:spawn(sleeper(log, "child cancelled"))
            g:spawn(function() corral.sleep(1); log:stamp("quick child done") end)
          end, { defer_errors = true })
          log:add("unreached: after the group")
        end))
        log:stamp("scope exited")
      end)
      assert.same({ n = 1, false }, r)
      assert.same({ "quick child done@1", "child cancelled@2", "scope exited@2" }, log.items)
    end)

    it("the deferred failures still come out when an enclosing scope cancels the group", function()
      local log = support.log()
      local eg
      vrun(function()
        local ok, e = pcall(corral.move_on_after, 2, function()
          corral.group(function(g)
            g:spawn({ function() corral.sleep(1); error("early failure", 0) end, name = "early" })
            g:spawn(sleeper(log, "child cancelled"))
          end, { defer_errors = true })
        end)
        eg = e
        log:stamp("scope raised")
      end)
      assert.same({ "child cancelled@2", "scope raised@2" }, log.items)
      assert.is_true(corral.is_error_group(eg))
      assert.same({ "early failure" }, eg.errors)
      assert.same({ "early" }, eg.tasks)
    end)
  end)

  describe("on_error", function()
    it("is called in the failing child's coroutine with the raw error and the Task", function()
      local thrown = { "worker failed" }
      local calls = {}
      local child
      vrun(function()
        corral.group(function(g)
          child = g:spawn({ function() error(thrown) end, name = "worker" })
        end, {
          on_error = function(err, task)
            calls[#calls + 1] = { err = err, task = task, current = corral.current_task() }
            return true
          end,
        })
      end)
      assert.equal(1, #calls)
      assert.is_true(rawequal(thrown, calls[1].err))
      assert.equal(child, calls[1].task)
      assert.equal("worker", calls[1].task.name)
      assert.equal(child, calls[1].current)
    end)

    it("a handled error (handler returns true) is neither collected nor cancelling", function()
      local log = support.log()
      local r
      vrun(function()
        r = table.pack(corral.group(function(g)
          g:spawn(function() corral.sleep(1); error("handled", 0) end)
          g:spawn(function() corral.sleep(3); log:stamp("sibling finished") end)
          corral.sleep(2)
          log:stamp("body finished")
          return "ok"
        end, { on_error = function(err) log:stamp("handled " .. err); return true end }))
        log:stamp("group returned")
      end)
      assert.same({ n = 1, "ok" }, r)
      assert.same({ "handled handled@1", "body finished@2", "sibling finished@3", "group returned@3" }, log.items)
    end)

    it("an unhandled error (handler returns nothing) follows the failure policy", function()
      local log = support.log()
      local eg = support.error_group(vrun, function()
        corral.group(function(g)
          g:spawn({ function() corral.sleep(1); error("not handled", 0) end, name = "bad" })
          g:spawn(sleeper(log, "sibling cancelled"))
        end, { on_error = function(err) log:stamp("saw " .. err) end })
      end)
      assert.same({ "saw not handled@1", "sibling cancelled@1" }, log.items)
      assert.same({ "not handled" }, eg.errors)
      assert.same({ "bad" }, eg.tasks)
    end)

    it("may block and spawn a replacement before handling the error", function()
      local log = support.log()
      local grp
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1); error("crashed", 0) end)
        end, {
          on_error = function()
            corral.sleep(1)
            grp:spawn(function() corral.sleep(1); log:stamp("replacement done") end)
            log:stamp("handler done")
            return true
          end,
        })
        log:stamp("group returned")
      end)
      assert.same({ "handler done@2", "replacement done@3", "group returned@3" }, log.items)
    end)

    it("an error inside on_error is a failure of the group", function()
      local log = support.log()
      local eg = support.error_group(vrun, function()
        corral.group(function(g)
          g:spawn({ function() corral.sleep(1); error("original", 0) end, name = "flaky" })
          g:spawn(sleeper(log, "sibling cancelled"))
        end, { on_error = function() error("handler broke", 0) end })
      end)
      assert.same({ "sibling cancelled@1" }, log.items)
      -- Whether "original" is collected next to it is not pinned; the handler's error is.
      local found
      for i, e in ipairs(eg.errors) do
        if e == "handler broke" then found = i end
      end
      assert.is_truthy(found, "the handler's error is in the ErrorGroup: " .. tostring(eg))
      assert.equal("flaky", eg.tasks[found])
    end)

    it("is not called for a child that ends cancelled", function()
      local calls = 0
      vrun(function()
        corral.group(function(g)
          local t = g:spawn(function() corral.sleep(math.huge) end)
          corral.sleep(1)
          t:cancel()
        end, { on_error = function() calls = calls + 1; return true end })
      end)
      assert.equal(0, calls)
    end)
  end)

  describe("cancel", function()
    it("cancel from the body before its first cancellation point exits without raising", function()
      local log = support.log()
      local grp, r
      vrun(function()
        r = table.pack(corral.group(function(g)
          grp = g
          g:spawn(function()
            log:add("child setup")
            corral.sleep(1)
            log:add("unreached: child after sleep")
          end)
          g:cancel()
          log:add("body runs on to its next cancellation point")
          corral.sleep(1)
          log:add("unreached: body after sleep")
        end))
        log:stamp("group returned")
      end)
      assert.equal(0, r.n)
      assert.same({ "body runs on to its next cancellation point", "child setup", "group returned@0" }, log.items)
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("cancel from a child stops the body and the siblings; the group exits without raising", function()
      local log = support.log()
      local grp
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1); g:cancel("done here") end)
          g:spawn(sleeper(log, "sibling cancelled"))
          sleeper(log, "body cancelled")()
        end)
        log:stamp("group returned")
      end)
      assert.same({ "body cancelled@1", "group returned@1", "sibling cancelled@1" }, log:sorted())
      assert.equal("group returned@1", log.items[3])
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("cancel from a task of a sibling group exits that group without raising and leaves the caller's running", function()
      local log = support.log()
      local victim
      vrun(function()
        corral.group(function(top)
          top:spawn(function()
            corral.group(function(g)
              victim = g
              g:spawn(sleeper(log, "victim child cancelled"))
            end)
            log:stamp("victim group exited")
          end)
          top:spawn(function()
            corral.group(function(g)
              g:spawn(function() corral.sleep(1); victim:cancel("from next door") end)
              g:spawn(function() corral.sleep(3); log:stamp("caller's child done") end)
            end)
            log:stamp("caller's group exited")
          end)
        end)
      end)
      assert.same({
        "victim child cancelled@1", "victim group exited@1",
        "caller's child done@3", "caller's group exited@3",
      }, log.items)
      assert.is_true(victim.cancel_called)
      assert.is_true(victim.cancel_caught)
    end)

    it("cancel from an on_error handler exits without raising", function()
      local log = support.log()
      local grp
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1); error("fatal", 0) end)
          g:spawn(sleeper(log, "sibling cancelled"))
          sleeper(log, "body cancelled")()
        end, { on_error = function() grp:cancel("handler gave up"); return true end })
        log:stamp("group returned")
      end)
      assert.same({ "body cancelled@1", "group returned@1", "sibling cancelled@1" }, log:sorted())
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("cancel from a __close handler exits without raising", function()
      local log = support.log()
      local grp
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function()
            local _ <close> = support.closer(function() g:cancel("closing") end)
            corral.sleep(1)
          end)
          g:spawn(sleeper(log, "sibling cancelled"))
        end)
        log:stamp("group returned")
      end)
      assert.same({ "sibling cancelled@1", "group returned@1" }, log.items)
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("cancel from a function stored and called later by another task exits without raising", function()
      local log = support.log()
      local grp, stop_it
      vrun(function()
        corral.group(function(top)
          top:spawn(function()
            corral.sleep(2)
            stop_it("called back")
          end)
          corral.group(function(g)
            grp = g
            stop_it = function(reason) g:cancel(reason) end
            g:spawn(sleeper(log, "child cancelled"))
          end)
          log:stamp("group returned")
        end)
      end)
      assert.same({ "child cancelled@2", "group returned@2" }, log.items)
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("cancel after all work finished sets cancel_called but not cancel_caught", function()
      local grp, r
      vrun(function()
        r = table.pack(corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1) end)
          corral.sleep(2)
          g:cancel()
          return "finished anyway"
        end))
      end)
      assert.same({ n = 1, "finished anyway" }, r)
      assert.is_true(grp.cancel_called)
      assert.is_false(grp.cancel_caught)
    end)

    it("cancel after the group exited does nothing", function()
      local grp, called, caught
      vrun(function()
        corral.group(function(g) grp = g end)
        corral.group(function(g)
          g:spawn(function() grp:cancel("too late") end)
        end)
        grp:cancel("later still")
        called, caught = grp.cancel_called, grp.cancel_caught
        corral.sleep(1) -- nothing left to cancel this task
      end)
      assert.is_false(called)
      assert.is_false(caught)
    end)

    it("still raises when a child fails while the group is cancelled", function()
      local eg = support.error_group(vrun, function()
        corral.group(function(g)
          g:spawn({ function()
            pcall(corral.sleep, math.huge)
            error("cleanup failed", 0)
          end, name = "messy" })
          corral.sleep(1)
          g:cancel()
        end)
      end)
      assert.same({ "cleanup failed" }, eg.errors)
      assert.same({ "messy" }, eg.tasks)
    end)
  end)

  describe("nested groups", function()
    it("cancelling the outer group cancels the inner one's children and body", function()
      local log = support.log()
      local outer_g, inner_g
      vrun(function()
        corral.group(function(outer)
          outer_g = outer
          outer:spawn(function() corral.sleep(1); outer:cancel("outer") end)
          corral.group(function(inner)
            inner_g = inner
            inner:spawn(sleeper(log, "inner child cancelled"))
            sleeper(log, "inner body cancelled")()
          end)
          log:add("unreached: after the inner group")
        end)
        log:stamp("outer returned")
      end)
      assert.same({ "inner body cancelled@1", "inner child cancelled@1", "outer returned@1" }, log:sorted())
      assert.equal("outer returned@1", log.items[3])
      assert.is_true(outer_g.cancel_called)
      assert.is_true(outer_g.cancel_caught)
      assert.is_false(inner_g.cancel_called)
      assert.is_false(inner_g.cancel_caught)
    end)

    it("cancelling the inner group leaves the outer one running", function()
      local log = support.log()
      local outer_g, inner_g
      vrun(function()
        corral.group(function(outer)
          outer_g = outer
          outer:spawn(function() corral.sleep(3); log:stamp("outer child done") end)
          corral.group(function(inner)
            inner_g = inner
            inner:spawn(sleeper(log, "inner child cancelled"))
            corral.sleep(1)
            inner:cancel()
          end)
          log:stamp("outer body goes on")
          corral.sleep(1)
          log:stamp("outer body done")
        end)
      end)
      assert.same({
        "inner child cancelled@1", "outer body goes on@1", "outer body done@2", "outer child done@3",
      }, log.items)
      assert.is_true(inner_g.cancel_called)
      assert.is_true(inner_g.cancel_caught)
      assert.is_false(outer_g.cancel_called)
      assert.is_false(outer_g.cancel_caught)
    end)

    it("outer and inner cancelled together: the Cancelled passes through the inner and the outer absorbs it", function()
      local log = support.log()
      local outer_g, inner_g, child_err, body_err
      vrun(function()
        corral.group(function(outer)
          outer_g = outer
          corral.group(function(inner)
            inner_g = inner
            inner:spawn(function()
              local ok, e = pcall(corral.sleep, math.huge)
              child_err = e
              error(e, 0)
            end)
            corral.sleep(1)
            outer:cancel("outer reason")
            inner:cancel("inner reason")
            local ok, e = pcall(corral.checkpoint)
            body_err = e
            error(e, 0)
          end)
          log:add("unreached: after the inner group")
        end)
        log:stamp("outer returned")
      end)
      assert.same({ "outer returned@1" }, log.items)
      assert.is_true(corral.is_cancelled(child_err))
      assert.equal("outer reason", child_err.reason)
      assert.is_true(corral.is_cancelled(body_err))
      assert.equal("outer reason", body_err.reason)
      assert.is_true(inner_g.cancel_called)
      assert.is_false(inner_g.cancel_caught)
      assert.is_true(outer_g.cancel_called)
      assert.is_true(outer_g.cancel_caught)
    end)
  end)

  describe("spawning into a cancelled, closed or stopping group", function()
    it("a child spawned into a cancelled group runs up to its first cancellation point", function()
      local log = support.log()
      local t
      vrun(function()
        corral.group(function(g)
          g:cancel()
          t = g:spawn(function()
            local _ <close> = support.closer(function(e)
              log:add(corral.is_cancelled(e) and "cleanup after Cancelled" or "cleanup")
            end)
            log:add("code before the first sleep")
            corral.sleep(1)
            log:add("unreached: code after the sleep")
          end)
        end)
        log:stamp("group returned")
      end)
      assert.same({ "code before the first sleep", "cleanup after Cancelled", "group returned@0" }, log.items)
      assert.equal("cancelled", t.status)
    end)

    it("spawn after the group exited raises 'group is closed'", function()
      local grp, ran = nil, false
      local err
      vrun(function()
        corral.group(function(g) grp = g end)
        err = support.raises(function() grp:spawn(function() ran = true end) end)
        corral.sleep(1)
      end)
      assert.is_truthy(tostring(err):find("group is closed", 1, true), tostring(err))
      assert.is_false(ran)
    end)

    it("start after the group exited raises 'group is closed'", function()
      local grp, ran = nil, false
      local err
      vrun(function()
        corral.group(function(g) grp = g end)
        err = support.raises(function() grp:start(function(ready) ran = true; ready() end) end)
      end)
      assert.is_truthy(tostring(err):find("group is closed", 1, true), tostring(err))
      assert.is_false(ran)
    end)

    it("closed is false while the group runs and true once it exited", function()
      local grp, inside
      vrun(function()
        corral.group(function(g) grp = g; inside = g.closed end)
      end)
      assert.is_false(inside)
      assert.is_true(grp.closed)
    end)
  end)

  describe("stop", function()
    it("makes spawn and start raise 'group is stopping', from the body and from a child", function()
      local errs, ran = {}, false
      local stopping_seen
      vrun(function()
        corral.group(function(g)
          g:spawn(function()
            g:wait_stopping()
            errs[#errs + 1] = support.raises(function() g:spawn(function() ran = true end) end)
          end)
          g:stop()
          stopping_seen = g.stopping
          errs[#errs + 1] = support.raises(function() g:spawn(function() ran = true end) end)
          errs[#errs + 1] = support.raises(function() g:start(function(ready) ran = true; ready() end) end)
        end)
      end)
      assert.is_true(stopping_seen)
      assert.equal(3, #errs)
      for _, e in ipairs(errs) do
        assert.is_truthy(tostring(e):find("group is stopping", 1, true), tostring(e))
      end
      assert.is_false(ran)
    end)

    it("without a grace lets the children and the body finish, however long they take", function()
      local log = support.log()
      local grp
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(100); log:stamp("child done") end)
          g:stop()
          corral.sleep(1)
          log:stamp("body done")
        end)
        log:stamp("group returned")
      end)
      assert.same({ "body done@1", "child done@100", "group returned@100" }, log.items)
      assert.is_false(grp.cancel_called)
    end)

    it("drains what finishes within the grace, then cancels the rest when the grace runs out", function()
      local log = support.log()
      local grp, stubborn_err
      vrun(function()
        corral.group(function(g)
          grp = g
          g:spawn(function() corral.sleep(1); log:stamp("quick child done") end)
          g:spawn(function()
            local ok, e = pcall(corral.sleep, math.huge)
            stubborn_err = e
            log:stamp("stubborn child cancelled")
            error(e, 0)
          end)
          corral.sleep(0.5)
          g:stop(2)
          sleeper(log, "body cancelled")()
        end)
        log:stamp("group returned")
      end)
      assert.equal("quick child done@1", log.items[1])
      assert.same({ "body cancelled@2.5", "group returned@2.5", "stubborn child cancelled@2.5" }, support.sorted({
        log.items[2], log.items[3], log.items[4],
      }))
      assert.equal("group returned@2.5", log.items[4])
      assert.is_true(corral.is_cancelled(stubborn_err))
      assert.equal("stop", stubborn_err.source)
      assert.is_true(grp.stopping)
      assert.is_true(grp.cancel_called)
    end)

    it("stop(0) cancels at once", function()
      local log = support.log()
      vrun(function()
        corral.group(function(g)
          g:spawn(sleeper(log, "child cancelled"))
          corral.sleep(1)
          g:stop(0)
        end)
        log:stamp("group returned")
      end)
      assert.same({ "child cancelled@1", "group returned@1" }, log.items)
    end)

    it("wait_stopping wakes the children, which wind down before the grace: nothing is cancelled", function()
      local log = support.log()
      local grp, tasks = nil, {}
      vrun(function()
        corral.group(function(g)
          grp = g
          for i = 1, 3 do
            tasks[i] = g:spawn(function()
              g:wait_stopping()
              log:stamp("winding down " .. i)
              corral.sleep(1)
              log:stamp("done " .. i)
            end)
          end
          corral.sleep(2)
          g:stop(5)
        end)
        log:stamp("group returned")
      end)
      assert.same({
        "done 1@3", "done 2@3", "done 3@3", "group returned@3",
        "winding down 1@2", "winding down 2@2", "winding down 3@2",
      }, log:sorted())
      assert.equal("group returned@3", log.items[#log.items])
      for i = 1, 3 do assert.equal("done", tasks[i].status) end
      assert.is_false(grp.cancel_called)
      assert.is_false(grp.cancel_caught)
    end)

    it("wait_stopping returns at once in a group that is already stopping", function()
      local t
      vrun(function()
        corral.group(function(g)
          g:stop()
          g:wait_stopping()
          t = now()
        end)
      end)
      assert.equal(0, t)
    end)
  end)

  describe("limit", function()
    it("never runs more than limit children at once, and starts the queued spawns FIFO", function()
      local log = support.log()
      local running, max_running = 0, 0
      vrun(function()
        corral.group(function(g)
          for i, d in ipairs({ 3, 1, 1, 2, 1, 1 }) do
            g:spawn(function()
              running = running + 1
              max_running = math.max(max_running, running)
              log:stamp("start " .. i)
              corral.sleep(d)
              running = running - 1
            end)
          end
        end, { limit = 2 })
        log:stamp("group returned")
      end)
      assert.equal(2, max_running)
      -- 1 and 2 start together, so in either order under a seed
      assert.same({
        "start 1@0", "start 2@0", "start 3@1", "start 4@2", "start 5@3", "start 6@4", "group returned@5",
      }, support.by_time(log.items))
    end)

    it("queued spawns are 'scheduled' until they start, and tasks() lists them", function()
      local statuses = {}
      local listed
      vrun(function()
        corral.group(function(g)
          local ts = {}
          for i = 1, 3 do ts[i] = g:spawn({ function() corral.sleep(1) end, name = "t" .. i }) end
          corral.sleep(0.5)
          for i = 1, 3 do statuses[i] = ts[i].status end
          listed = support.task_names(g:tasks())
        end, { limit = 1 })
      end)
      assert.same({ "waiting", "scheduled", "scheduled" }, statuses)
      assert.same({ "t1", "t2", "t3" }, support.sorted(listed))
    end)
  end)

  describe("max_errors", function()
    -- Returns the ErrorGroup and the children in the order they failed (the
    -- order they run in, which a seed shuffles).
    local function fail_many(n, opts)
      local failed = {}
      return support.error_group(vrun, function()
        corral.group(function(g)
          for i = 1, n do g:spawn(function() failed[#failed + 1] = i; error(i) end) end
        end, opts)
      end), failed
    end

    it("a deferring group with 10,000 failing children keeps the first n and counts the rest in dropped", function()
      local eg, failed = fail_many(10000, { defer_errors = true, max_errors = 5 })
      assert.equal(5, #eg)
      assert.same({ table.unpack(failed, 1, 5) }, eg.errors)
      assert.equal(5, #eg.tasks)
      assert.equal(9995, eg.dropped)
    end)

    it("defaults to 1000", function()
      local eg, failed = fail_many(10000, { defer_errors = true })
      assert.equal(1000, #eg)
      assert.equal(failed[1], eg.errors[1])
      assert.equal(failed[1000], eg.errors[1000])
      assert.equal(9000, eg.dropped)
    end)
  end)

  describe("tasks()", function()
    it("lists the children not yet finished, including those spawned but not started", function()
      local before, during, after
      local function names(list) return support.sorted(support.task_names(list)) end
      vrun(function()
        corral.group(function(g)
          g:spawn({ function() corral.sleep(1) end, name = "short" })
          g:spawn({ function() corral.sleep(2) end, name = "long" })
          before = names(g:tasks())
          corral.sleep(1.5)
          during = names(g:tasks())
          corral.sleep(1)
          after = names(g:tasks())
        end)
      end)
      assert.same({ "long", "short" }, before)
      assert.same({ "long" }, during)
      assert.same({}, after)
    end)

    -- A group keeps no list of its own: a child still starting hangs below
    -- its starter's scope, and a child of another group started from this
    -- group's body hangs below this group's scope.
    it("lists a g:start child while it starts, once, and not another group's child", function()
      local function names(list) return support.sorted(support.task_names(list)) end
      local mid, late
      local function starting(name)
        return { function(ready) corral.sleep(2); ready(); corral.sleep(5) end, name = name }
      end
      vrun(function()
        corral.group(function(other)
          corral.group(function(g)
            g:spawn({ function() corral.sleep(5) end, name = "plain" })
            g:spawn({ function()
              corral.sleep(1)
              mid = names(g:tasks())
              corral.sleep(2)
              late = names(g:tasks())
            end, name = "observer" })
            other:spawn(function() g:start(starting("from outside")) end)
            g:spawn({ function() g:start(starting("from inside")) end, name = "starter" })
            other:start(starting("other's"))  -- below g's scope while it starts
            corral.sleep(2)
            g:cancel()
          end)
          other:cancel()
        end)
      end)
      assert.same({ "from inside", "from outside", "observer", "plain", "starter" }, mid)
      assert.same({ "from inside", "from outside", "observer", "plain" }, late)
    end)

    it("a group's cancel reaches its children still starting below another task's scope", function()
      local reached = false
      vrun(function()
        corral.group(function(other)
          corral.group(function(g)
            other:spawn(function()
              pcall(g.start, g, function(ready)
                local ok = pcall(corral.sleep, 10)
                reached = not ok
                ready()
              end)
            end)
            corral.sleep(1)
            g:cancel()
          end)
        end)
      end)
      assert.is_true(reached)
    end)
  end)

  describe("as a cancel scope", function()
    it("has name, deadline, shield, stopping and closed fields", function()
      local seen
      vrun(function()
        corral.group(function(g)
          seen = { name = g.name, deadline = g.deadline, shield = g.shield, stopping = g.stopping }
        end, { name = "workers" })
      end)
      assert.same({ name = "workers", deadline = math.huge, shield = false, stopping = false }, seen)
    end)

    it("a timeout cancels the body and children at the deadline, and the group exits without raising", function()
      local log = support.log()
      local grp, deadline
      vrun(function()
        corral.sleep(1)
        corral.group(function(g)
          grp = g
          deadline = g.deadline
          g:spawn(sleeper(log, "child cancelled"))
          sleeper(log, "body cancelled")()
        end, { timeout = 2 })
        log:stamp("group returned")
      end)
      assert.equal(3, deadline)
      assert.same({ "body cancelled@3", "child cancelled@3", "group returned@3" }, log:sorted())
      assert.is_true(grp.cancel_called)
      assert.is_true(grp.cancel_caught)
    end)

    it("an absolute deadline works the same way", function()
      local log = support.log()
      vrun(function()
        corral.group(function(g)
          g:spawn(sleeper(log, "child cancelled"))
        end, { deadline = 4 })
        log:stamp("group returned")
      end)
      assert.same({ "child cancelled@4", "group returned@4" }, log.items)
    end)
  end)

  describe("argument checks", function()
    it("group rejects a body that is not a function", function()
      vrun(function()
        support.assert_arg_error(1, "group", "function expected", function() corral.group(42) end)
      end)
    end)

    it("spawn rejects something that is neither a function nor {fn, name = ...}", function()
      vrun(function()
        corral.group(function(g)
          support.assert_arg_error(1, "spawn", "got number", function() g:spawn(42) end)
        end)
      end)
    end)

    it("start rejects a body that is not a function", function()
      vrun(function()
        corral.group(function(g)
          support.assert_arg_error(1, "start", "got number", function() g:start(42) end)
        end)
      end)
    end)

    it("spawn and start say a callable table is not a function", function()
      local callable = setmetatable({}, { __call = function() end })
      vrun(function()
        corral.group(function(g)
          support.assert_arg_error(1, "spawn", "function expected, got a callable table; wrap it in a function",
            function() g:spawn(callable) end)
          support.assert_arg_error(1, "start", "function expected, got a callable table",
            function() g:start(callable) end)
          support.assert_arg_error(1, "spawn", "table must hold the function at [1]",
            function() g:spawn({}) end)
          support.assert_arg_error(1, "spawn", "[1]: function expected, got a callable table; wrap it in a function",
            function() g:spawn({ callable, name = "x" }) end)
          support.assert_arg_error(1, "spawn", "[1]: function expected, got number",
            function() g:spawn({ 5 }) end)
        end)
      end)
    end)

    -- luassert's assert.equal is a callable table with fields of its own:
    -- spawn read it as an options table ("unknown option 'tokens'")
    it("say a callable table with fields is one to wrap, not an options table", function()
      local asserter = setmetatable({ tokens = {}, name = "equal" }, { __call = function() end })
      vrun(function()
        corral.group(function(g)
          support.assert_arg_error(1, "spawn", "function expected, got a callable table; wrap it in a function",
            function() g:spawn(asserter, 1, 2) end)
          support.assert_arg_error(1, "start", "function expected, got a callable table; wrap it in a function",
            function() g:start(asserter) end)
        end)
        local hint = "function expected, got a callable table; wrap it in a function"
        support.assert_arg_error(1, "group", hint, function() corral.group(asserter) end)
        support.assert_arg_error(1, "scope", hint, function() corral.scope(asserter) end)
        support.assert_arg_error(2, "fail_after", hint, function() corral.fail_after(1, asserter) end)
        support.assert_arg_error(2, "move_on_after", hint, function() corral.move_on_after(1, asserter) end)
        support.assert_arg_error(1, "with", hint, function() corral.lock():with(asserter) end)
        support.assert_arg_error(1, "race", "element 1: " .. hint, function() require("corral.race")({ asserter }) end)
        support.assert_arg_error(1, "map", hint, function() require("corral.map")(asserter, {}) end)
        support.assert_arg_error(1, "retry", hint, function() require("corral.retry")(asserter) end)
        -- the policies' function options and a supervisor's child say it too
        support.assert_arg_error(1, "supervisor.run", "children[1].fn must be a function, got " ..
          "a callable table; wrap it in a function", function()
            require("corral.supervisor").run({ children = { { name = "a", fn = asserter } } })
          end)
        support.assert_arg_error(2, "retry", "on_retry must be a function, got a callable table",
          function() require("corral.retry")(function() end, { on_retry = asserter }) end)
        -- only what Lua can call is callable: a __call that is not a
        -- function (nor callable in turn) is a table like any other
        local bogus = setmetatable({}, { __call = 42 })
        support.assert_arg_error(1, "scope", "function expected, got table", function() corral.scope(bogus) end)
        corral.group(function(g)                       -- a spawn table like any other
          assert.equal("x", g:spawn(setmetatable({ function() end, name = "x" }, { __call = 5 })).name)
        end)
        local deep = asserter                          -- deeper than any fixed bound
        for _ = 1, 200000 do deep = setmetatable({}, { __call = deep }) end
        support.assert_arg_error(1, "scope", hint, function() corral.scope(deep) end)
        local chained = setmetatable({}, { __call = asserter })
        support.assert_arg_error(1, "scope", hint, function() corral.scope(chained) end)
        for _ = 1, 20 do chained = setmetatable({}, { __call = chained }) end
        support.assert_arg_error(1, "scope", hint, function() corral.scope(chained) end)
        local cycle = {}
        setmetatable(cycle, { __call = cycle })        -- Lua cannot call it
        support.assert_arg_error(1, "scope", "function expected, got table", function() corral.scope(cycle) end)
      end)
    end)
  end)

  describe("tostring", function()
    it("names the group, or gives its id as the tree does, and counts its children", function()
      local unnamed, named, id
      vrun(function()
        corral.group(function(g)
          unnamed = g
          id = corral.tree({ format = "table" }).children[1].id   -- the tree's "group #id"
          assert.equal(("corral.Group(#%d, 0 children)"):format(id), tostring(g))
          g:spawn(function() corral.sleep(1) end)
          assert.equal(("corral.Group(#%d, 1 child)"):format(id), tostring(g))
          g:spawn(function() corral.sleep(1) end)
          assert.equal(("corral.Group(#%d, 2 children)"):format(id), tostring(g))
        end)
        corral.group(function(g) named = g end, { name = "crew" })
      end)
      assert.equal(("corral.Group(#%d, 0 children, closed)"):format(id), tostring(unnamed))
      assert.equal("corral.Group(crew, 0 children, closed)", tostring(named))
    end)
  end)
end)
