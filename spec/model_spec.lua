-- spec/model_spec.lua: model-based random testing (docs/model.md).
--
-- Each seed is a random program of nested groups and scopes whose tasks sleep,
-- fail, return, spawn, start, cancel, stop, wait and swallow Cancelled with
-- pcall (spec/model/gen.lua). It runs on the engine (virtual clock) and on a
-- small pure-Lua model of the documented semantics (spec/model/model.lua) through the same
-- interpreter (spec/model/interp.lua); the two event logs, in virtual-time and
-- scheduling order, and the final outcome must be identical. A failing seed
-- prints the minimised program and both logs.
--
-- MODEL_SEEDS=n and MODEL_SEED_START=s (environment) change the seed range;
-- tools/fuzz.lua runs many more seeds outside busted.
local corral = require "corral"
local support = require "support"
local model = require "model.model"
local gen = require "model.gen"
local interp = require "model.interp"

local SEEDS = tonumber(os.getenv("MODEL_SEEDS") or "") or 400
local START = tonumber(os.getenv("MODEL_SEED_START") or "") or 1

-- spec/helpers.lua wraps corral.run with a leak check that raises. The check
-- here is the same (gen.check reads corral.debug_stats after every engine run)
-- except after a second deadlock, where the engine abandons the tasks it can
-- never wake by design; so the engine runs with the unwrapped corral.run.
local engine = setmetatable({ run = support.unwrapped_run() }, { __index = corral })

local function agree(prog)
  local ok, a, b = gen.check(prog, engine, model)
  if not ok then
    assert(false, "engine and model disagree on:\n" .. gen.show(prog) .. "\nlogs (engine | model):\n"
      .. gen.side_by_side(a, b))
  end
end

describe("model-based random testing", function()
  describe("the model itself follows the documented semantics", function()
    -- Hand-checked logs, so the model cannot drift along with the engine.
    local function expect(prog, want)
      assert.same(want, interp.run(prog, model))
    end

    it("a failing child cancels its sibling and the body; the group raises an ErrorGroup", function()
      expect({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = { { op = "sleep", t = 1 }, { op = "fail", msg = "e1" } } },
          { op = "spawn", id = "t2", group = "g1", body = { { op = "sleep", t = 5 } } },
          { op = "sleep", t = 3 },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 t1 start", "0 t2 start", "1 t1 slept", "1 t1 end raise e1",
        "1 t2 end raise Cancelled(failure,-,t1)",
        "1 root exit g1 raise EG[t1:e1] called=1 caught=1",
        "run raise EG[t1:e1]",
        "final root failed", "final g1 called=1 caught=1 closed=1", "final t1 failed", "final t2 cancelled",
      })
    end)

    it("a swallowed Cancelled comes back at the next cancellation point; a shield hides it", function()
      expect({ body = {
        { op = "scope", id = "s1", opts = { timeout = 1 }, body = {
          { op = "pcall", body = { { op = "sleep", t = 2 } } },
          { op = "scope", id = "s2", opts = { shield = true }, body = { { op = "sleep", t = 1 } } },
          { op = "pcall", body = { { op = "checkpoint" } } },
          { op = "sleep", t = 0 },
        } },
      } }, {
        "0 root start", "0 root enter s1",
        "1 root caught Cancelled(deadline,-,-)",
        "1 root enter s2", "2 root slept", "2 root exit s2 ok() called=0 caught=0",
        "2 root caught Cancelled(deadline,-,-)",
        "2 root exit s1 ok() called=1 caught=1",
        "2 root end", "run ok()",
        "final root done", "final s1 called=1 caught=1", "final s2 called=0 caught=0",
      })
    end)

    it("stop lets children finish within the grace, then cancels the rest with source stop", function()
      expect({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = { { op = "sleep", t = 1 } } },
          { op = "spawn", id = "t2", group = "g1", body = { { op = "sleep", t = 5 } } },
          { op = "stop", id = "g1", grace = 2 },
          { op = "return", v = 7 },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root stop g1 2", "0 t1 start", "0 t2 start",
        "1 t1 slept", "1 t1 end ok()",
        "2 t2 end raise Cancelled(stop,-,root)",
        "2 root exit g1 ok(7) called=1 caught=1",
        "2 root end", "run ok()",
        "final root done", "final g1 called=1 caught=1 closed=1", "final t1 done", "final t2 cancelled",
      })
    end)

    it("an outer cancel passes through the inner group and is absorbed outside it", function()
      expect({ body = {
        { op = "scope", id = "s1", body = {
          { op = "group", id = "g1", body = {
            { op = "spawn", id = "t1", group = "g1", body = { { op = "sleep", t = 1 }, { op = "cancel_scope", id = "s1", reason = "r1" } } },
            { op = "cancel_group", id = "g1" },
            { op = "sleep", t = 2 },
          } },
        } },
      } }, {
        "0 root start", "0 root enter s1", "0 root enter g1", "0 root cancel g1",
        "0 t1 start", "0 t1 end raise Cancelled(explicit,-,root)",
        "0 root exit g1 ok() called=1 caught=1",
        "0 root exit s1 ok() called=0 caught=0",
        "0 root end", "run ok()",
        "final root done", "final s1 called=0 caught=0", "final g1 called=1 caught=1 closed=1",
        "final t1 cancelled",
      })
    end)
  end)

  -- Exit-time absorption (docs/model.md, Trio's rule) and g:start from
  -- cancelled scopes: hand-checked logs, and the engine must agree.
  describe("a Cancelled is judged when it reaches each scope's exit", function()
    local function expect_both(prog, want)
      assert.same(want, interp.run(prog, model))
      agree(prog)
    end

    -- A child that sleeps until cancelled, then cleans up for 1 s in a
    -- shielded scope, and re-raises its Cancelled.
    local function worker(id, group, scope_id)
      return { op = "spawn", id = id, group = group, body = {
        { op = "try", body = { { op = "sleep", t = math.huge } }, handler = {
          { op = "scope", id = scope_id, opts = { shield = true }, body = { { op = "sleep", t = 1 } } },
        } },
      } }
    end

    it("gh-155433: g:cancel() does not swallow a fail_after that fired while the group waited", function()
      -- fail_after(0.5, function() group(function(g) g:spawn(worker);
      -- sleep(0.1); g:cancel() end) end): the deadline fires during the
      -- worker's shielded cleanup, so the group's Cancelled moves outward
      -- and fail_after raises Timeout when the cleanup ends, at 1.1 s.
      expect_both({ body = {
        { op = "scope", id = "s1", opts = { timeout = 0.5, kind = "fail" }, body = {
          { op = "group", id = "g1", body = {
            worker("t1", "g1", "s2"),
            { op = "sleep", t = 0.1 },
            { op = "cancel_group", id = "g1" },
          } },
        } },
      } }, {
        "0 root start", "0 root enter s1", "0 root enter g1", "0 t1 start",
        "0.10000000000000001 root slept", "0.10000000000000001 root cancel g1",
        "0.10000000000000001 t1 handling Cancelled(explicit,-,root)",
        "0.10000000000000001 t1 enter s2",
        "1.1000000000000001 t1 slept",
        "1.1000000000000001 t1 exit s2 ok() called=0 caught=0",
        "1.1000000000000001 t1 rethrow Cancelled(explicit,-,root)",
        "1.1000000000000001 t1 end raise Cancelled(explicit,-,root)",
        "1.1000000000000001 root exit g1 raise Cancelled(deadline,-,-) called=1 caught=0",
        "1.1000000000000001 root exit s1 raise Timeout(0.5)",
        "run raise Timeout(0.5)",
        "final root failed", "final g1 called=1 caught=0 closed=1", "final t1 cancelled",
        "final s2 called=0 caught=0",
      })
    end)

    it("a task cancelled while its group, already cancelled, waits for a child's shielded cleanup ends cancelled", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = {
            { op = "group", id = "g2", body = {
              worker("t2", "g2", "s1"),
              { op = "cancel_group", id = "g2" },
            } },
          } },
          { op = "sleep", t = 0.5 },
          { op = "cancel_task", id = "t1" },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 t1 start", "0 t1 enter g2", "0 t1 cancel g2",
        "0 t2 start", "0 t2 handling Cancelled(explicit,-,t1)", "0 t2 enter s1",
        "0.5 root slept", "0.5 root cancel t1",
        "1 t2 slept", "1 t2 exit s1 ok() called=0 caught=0",
        "1 t2 rethrow Cancelled(explicit,-,t1)", "1 t2 end raise Cancelled(explicit,-,t1)",
        -- t1's own cancel came while g2 waited: g2 no longer catches it
        "1 t1 exit g2 raise Cancelled(explicit,-,root) called=1 caught=0",
        "1 t1 end raise Cancelled(explicit,-,root)",
        -- absorbed by t1's own scope: it does not reach g1
        "1 root exit g1 ok() called=0 caught=0",
        "1 root end", "run ok()",
        "final root done", "final g1 called=0 caught=0 closed=1", "final t1 cancelled",
        "final g2 called=1 caught=0 closed=1", "final t2 cancelled", "final s1 called=0 caught=0",
      })
    end)

    it("an outer cancel in a pcall handler moves the catch of a scope's own Cancelled outward", function()
      expect_both({ body = {
        { op = "scope", id = "s1", body = {
          { op = "scope", id = "s2", body = {
            { op = "cancel_scope", id = "s2", reason = "inner" },
            { op = "try", body = { { op = "checkpoint" } }, handler = {
              { op = "cancel_scope", id = "s1", reason = "outer" },
            } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter s1", "0 root enter s2", "0 root cancel s2",
        "0 root handling Cancelled(explicit,inner,root)", "0 root cancel s1",
        "0 root rethrow Cancelled(explicit,inner,root)",
        "0 root exit s2 raise Cancelled(explicit,outer,root) called=1 caught=0",
        "0 root exit s1 ok() called=1 caught=1",
        "0 root end", "run ok()",
        "final root done", "final s1 called=1 caught=1", "final s2 called=1 caught=0",
      })
    end)

    it("start from a cancelled scope runs the child to its first cancellation point, then raises the caller's Cancelled", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "scope", id = "s1", body = {
            { op = "cancel_scope", id = "s1" },
            { op = "start", id = "t1", group = "g1", body = { { op = "checkpoint" }, { op = "ready", v = 1 } } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root enter s1", "0 root cancel s1",
        "0 t1 start", "0 t1 end raise Cancelled(explicit,-,root)",
        "0 root exit s1 ok() called=1 caught=1",
        "0 root exit g1 ok() called=0 caught=0",
        "0 root end", "run ok()",
        "final root done", "final g1 called=0 caught=0 closed=1", "final s1 called=1 caught=1",
        "final t1 cancelled",
      })
    end)

    it("start into a cancelled group, from a shield: the child's own scope absorbs the group's cancel", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "cancel_group", id = "g1", reason = "r1" },
          { op = "scope", id = "s1", opts = { shield = true }, body = {
            { op = "pcall", body = {
              { op = "start", id = "t1", group = "g1", body = { { op = "checkpoint" }, { op = "ready", v = 1 } } },
            } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root cancel g1", "0 root enter s1",
        "0 t1 start", "0 t1 end raise Cancelled(explicit,r1,root)",
        "0 root caught cancelled-before-ready",
        "0 root exit s1 ok() called=0 caught=0",
        "0 root exit g1 ok() called=1 caught=0",
        "0 root end", "run ok()",
        "final root done", "final g1 called=1 caught=0 closed=1", "final s1 called=0 caught=0",
        "final t1 cancelled",
      })
    end)

    it("start raises the caller's Cancelled when the caller was cancelled after the child's own scope absorbed its cancel", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = {
            { op = "checkpoint" }, { op = "sleep", t = 1 }, { op = "cancel_scope", id = "s1", reason = "r1" },
          } },
          { op = "scope", id = "s1", body = {
            { op = "start", id = "t2", group = "g1", body = {
              -- (a wait raises at once in a cancelled scope; a checkpoint would
              -- let t1 run first, as Trio's does)
              { op = "sleep", t = 1 }, { op = "cancel_self" }, { op = "event_wait", id = "e1" },
            } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root enter s1", "0 t1 start", "0 t2 start", "0 t1 cp",
        "1 t2 slept", "1 t2 cancel self", "1 t2 end raise Cancelled(explicit,-,t2)",
        "1 t1 slept", "1 t1 cancel s1", "1 t1 end ok()",
        "1 root exit s1 ok() called=1 caught=1",
        "1 root exit g1 ok() called=0 caught=0",
        "1 root end", "run ok()",
        "final root done", "final g1 called=0 caught=0 closed=1", "final t1 done",
        "final s1 called=1 caught=1", "final t2 cancelled",
      })
    end)

    it("a Cancelled raised again after its scope exited is an ordinary error", function()
      expect_both({ body = {
        { op = "scope", id = "s1", body = {
          { op = "keep", body = { { op = "cancel_scope", id = "s1" }, { op = "checkpoint" } } },
        } },
        { op = "pcall", body = { { op = "raise_kept" } } },
        { op = "scope", id = "s2", body = { { op = "raise_kept" } } },
      } }, {
        "0 root start", "0 root enter s1", "0 root cancel s1", "0 root kept Cancelled(explicit,-,root)",
        "0 root exit s1 ok() called=1 caught=0",
        "0 root raise kept", "0 root caught Cancelled(explicit,-,root)",
        "0 root enter s2", "0 root raise kept",
        "0 root exit s2 raise dead<Cancelled (source=explicit, origin=root)> called=0 caught=0",
        "run raise dead<Cancelled (source=explicit, origin=root)>",
        "final root failed", "final s1 called=1 caught=0", "final s2 called=0 caught=0",
      })
    end)

    it("a Cancelled its task was found with passes a shield set on its group since (fuzz seed 7324551)", function()
      local D = "Cancelled(deadlock,deadlock: every task is blocked and nothing can wake them,-)"
      expect_both({ body = {
        { op = "group", id = "g2", body = {
          { op = "spawn", id = "t1", group = "g2", body = {
            { op = "try", body = { { op = "sleep", t = math.huge } },
              handler = { { op = "set_shield", id = "g2", v = true } } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g2", "0 t1 start", "0 t1 handling " .. D, "0 t1 shield g2 1",
        "0 t1 rethrow " .. D, "0 t1 end raise " .. D,
        "0 root exit g2 raise " .. D .. " called=0 caught=0",
        "run raise DEADLOCK",
        "final root cancelled", "final g2 called=0 caught=0 closed=1", "final t1 cancelled",
      })
    end)

    it("a handed Cancelled a group's body raises inside a shield does not pass it (fuzz seed 7310443)", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "group", id = "g2", body = {
            { op = "spawn", id = "t2", group = "g2", body = {
              { op = "keep", body = { { op = "sleep", t = 0 } } },
              { op = "cancel_group", id = "g1" },
            } },
            { op = "cancel_group", id = "g2" },
            { op = "scope", id = "s4", opts = { shield = true }, body = {
              { op = "group", id = "g5", body = { { op = "sleep", t = 1 }, { op = "raise_kept" } } },
            } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root enter g2", "0 root cancel g2", "0 root enter s4",
        "0 root enter g5", "0 t2 start", "0 t2 kept Cancelled(explicit,-,root)", "0 t2 cancel g1",
        "0 t2 end ok()", "1 root slept", "1 root raise kept",
        "1 root exit g5 raise Cancelled(explicit,-,root) called=0 caught=0",
        "1 root exit s4 raise Cancelled(explicit,-,t2) called=0 caught=0",
        "1 root exit g2 raise Cancelled(explicit,-,t2) called=1 caught=0",
        "1 root exit g1 ok() called=1 caught=1", "1 root end", "run ok()",
        "final root done", "final g1 called=1 caught=1 closed=1", "final g2 called=1 caught=0 closed=1",
        "final t2 done", "final s4 called=0 caught=0", "final g5 called=0 caught=0 closed=1",
      })
    end)

    it("a Cancelled a g:start child passed to its caller passes a shield set since (fuzz seed 12099192)", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "cancel_self" },
          { op = "spawn", id = "t1", group = "g1", body = {
            { op = "start", id = "t2", group = "g1", body = { { op = "wait_stopping", id = "g1" } } },
          } },
          { op = "spawn", id = "t17", group = "g1", body = {
            { op = "spawn", id = "t18", group = "g1", body = { { op = "set_shield", id = "g1", v = true } } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root cancel self", "0 t1 start", "0 t17 start",
        "0 t17 end ok()", "0 t2 start", "0 t2 end raise Cancelled(explicit,-,root)", "0 t18 start",
        "0 t18 shield g1 1", "0 t18 end ok()", "0 t1 end raise Cancelled(explicit,-,root)",
        "0 root exit g1 raise Cancelled(explicit,-,root) called=0 caught=0",
        "run raise Cancelled(explicit,-,root)",
        "final root cancelled", "final g1 called=0 caught=0 closed=1", "final t1 cancelled",
        "final t17 done", "final t18 done", "final t2 cancelled",
      })
    end)

    it("a cancel ends a stop's grace: a deadlock behind it is found at once (fuzz seeds 47001867, 47032243)", function()
      local D = "Cancelled(deadlock,deadlock: every task is blocked and nothing can wake them,-)"
      -- expired on entry, then stopped: the stop arms no grace
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = { { op = "sleep", t = math.huge } } },
          { op = "group", id = "g3", opts = { timeout = 0 }, body = {
            { op = "stop", id = "g3", grace = 1 },
            { op = "scope", id = "s5", opts = { shield = true }, body = { { op = "event_wait", id = "e2" } } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root enter g3", "0 root stop g3 1", "0 root enter s5",
        "0 t1 start", "0 t1 end raise " .. D, "run raise DEADLOCK2",
        "final root cancelled", "final g1 called=0 caught=0 closed=1", "final t1 cancelled",
        "final g3 called=1 caught=0 closed=1", "final s5 called=0 caught=0",
      })
      -- cancelled, then stopped in the handler
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "group", id = "g2", body = {
            { op = "spawn", id = "t1", group = "g1", body = { { op = "sleep", t = math.huge } } },
            { op = "try", body = { { op = "cancel_group", id = "g2" }, { op = "event_wait", id = "e1" } },
              handler = {
                { op = "scope", id = "s5", opts = { shield = true }, body = {
                  { op = "stop", id = "g2", grace = 0.5 }, { op = "event_wait", id = "e1" } } },
              } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 root enter g2", "0 root cancel g2",
        "0 root handling Cancelled(explicit,-,root)", "0 root enter s5", "0 root stop g2 0.5",
        "0 t1 start", "0 t1 end raise " .. D, "run raise DEADLOCK2",
        "final root cancelled", "final g1 called=0 caught=0 closed=1", "final g2 called=1 caught=0 closed=1",
        "final t1 cancelled", "final s5 called=0 caught=0",
      })
    end)

    it("after a second deadlock the tasks still alive end cancelled", function()
      expect_both({ body = {
        { op = "group", id = "g1", body = {
          { op = "spawn", id = "t1", group = "g1", body = {
            { op = "scope", id = "s1", opts = { shield = true }, body = { { op = "event_wait", id = "e1" } } },
          } },
        } },
      } }, {
        "0 root start", "0 root enter g1", "0 t1 start", "0 t1 enter s1",
        "run raise DEADLOCK2",
        "final root cancelled", "final g1 called=0 caught=0 closed=1", "final t1 cancelled",
        "final s1 called=0 caught=0",
      })
    end)
  end)

  describe(("seeds %d..%d"):format(START, START + SEEDS - 1), function()
    for seed = START, START + SEEDS - 1 do
      it("seed " .. seed, function()
        local report = gen.report(seed, engine, model)
        if report then
          assert(false, report .. "\nreplay: lua5.4 tools/fuzz.lua 1 " .. seed)
        end
      end)
    end
  end)

  -- Minimised programs of engine bugs the fuzzer found (see the report in
  -- the issue); the engine has to keep agreeing with the model on them.
  describe("regressions", function()
    -- Engine bug (4383f4f): g:start raises the child's own Cancelled as the
    -- child raised it, even when that Cancelled passed the child's scope
    -- because the caller's scope got cancelled while it unwound. By then
    -- the child's scope has exited, so the caller gets an ordinary error
    -- ("a Cancelled was raised outside the scope it cancelled") instead of
    -- g1's Cancelled, which g1 would absorb (docs/model.md, rules 1 and
    -- 4). Fails until the engine is fixed; the model's log is hand-checked.
    it("g:start raises the caller's Cancelled when an outer cancel moved the child's Cancelled past its own scope", function()
      local prog = { body = {
        { op = "group", id = "g1", body = {
          { op = "start", id = "t1", group = "g1", body = {
            { op = "cancel_self" },
            { op = "try", body = { { op = "sleep", t = 0 } }, handler = { { op = "cancel_group", id = "g1" } } },
          } },
        } },
      } }
      assert.same({
        "0 root start", "0 root enter g1", "0 t1 start", "0 t1 cancel self",
        "0 t1 handling Cancelled(explicit,-,t1)", "0 t1 cancel g1",
        "0 t1 rethrow Cancelled(explicit,-,t1)", "0 t1 end raise Cancelled(explicit,-,t1)",
        "0 root exit g1 ok() called=1 caught=1",
        "0 root end", "run ok()",
        "final root done", "final g1 called=1 caught=1 closed=1", "final t1 cancelled",
      }, interp.run(prog, model))
      agree(prog)
    end)

    it("a deadline that cancels a stopped group has no origin (not the task that called stop)", function()
      agree({ body = {
        { op = "group", id = "g1", opts = { timeout = 1 }, body = {
          { op = "stop", id = "g1" },
          { op = "pcall", body = { { op = "sleep", t = 2 } } },
        } },
      } })
    end)

    it("a g:start child cancelled by its group's cancel carries that cancel's reason and origin", function()
      agree({ body = {
        { op = "group", id = "g1", body = {
          { op = "scope", id = "s1", opts = { shield = true }, body = {
            { op = "spawn", id = "t1", group = "g1", body = { { op = "cancel_group", id = "g1", reason = "r1" } } },
            { op = "pcall", body = {
              { op = "start", id = "t2", group = "g1", body = { { op = "sleep", t = 0 } } },
            } },
          } },
        } },
      } })
    end)

    it("a g:start child spawned into an already cancelled group is cancelled at its first cancellation point", function()
      agree({ body = {
        { op = "group", id = "g1", body = {
          { op = "cancel_group", id = "g1" },
          { op = "scope", id = "s1", opts = { shield = true }, body = {
            { op = "pcall", body = {
              { op = "start", id = "t1", group = "g1", body = { { op = "checkpoint" }, { op = "ready", v = 1 } } },
            } },
          } },
        } },
      } })
    end)
  end)
end)
