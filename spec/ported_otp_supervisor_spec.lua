-- spec/ported_otp_supervisor_spec.lua: Erlang/OTP's lib/stdlib/test/supervisor_SUITE.erl
-- ported to corral.supervisor (API.md section 9, docs/policies.md), under the virtual
-- clock, with the exact order and time of every event; then what a hostile user of
-- supervisor.run would try.
--
-- How OTP's calls map here: start_child -> sup:add (which returns once the child's
-- fn has been called); terminate_child + delete_child -> sup:remove (a child is
-- never kept stopped: a removed child is forgotten); restart_child -> sup:restart
-- (which also restarts a running child); which_children / count_children ->
-- sup:children(); exit(Pid, shutdown) -> the child cancels its own task; a child
-- told `die` raises; a child told `stop` (normal) returns; `shutdown` grace in
-- milliseconds -> seconds, and brutal_kill -> shutdown = 0, infinity -> math.huge.
-- Where corral deliberately differs from OTP the test says so ("corral: ...").
--
-- Ported: sup_start_normal, sup_start_ignore_temporary_child(_start_child),
-- sup_start_child_returns_error, sup_start_restart_child_returns_error,
-- sup_start_error_return, sup_start_fail, sup_start_map (defaults),
-- sup_start_map_faulty_specs, sup_stop_infinity, sup_stop_timeout,
-- sup_stop_brutal_kill, sup_stop_race, extra_return and child_adm (the
-- not_found / already_started / already_present parts), child_specs,
-- child_specs_map, sup_flags, permanent/transient/temporary x normal/shutdown/
-- abnormal, temporary_bystander, multiple_restarts, one_for_one(_escalation),
-- one_for_all(_escalation, _other_child_fails_restart), rest_for_one(_escalation,
-- _other_child_fails_restart), child_unlink (as a child that swallows its stop),
-- tree, count_children (with one_for_one and sup:add), count_restarting_children
-- (restarting = waiting out a backoff), do_not_save_child_specs_for_temporary_
-- children, simple_global_supervisor (without global names), hanging_restart_loop
-- (_rest_for_one), order_of_children.
--
-- Skipped, as concepts the contract does not have:
-- - simple_one_for_one and everything only it has (child_adm_simple,
--   sup_start_map_simple, sup_start_ignore_*_simple, sup_start_child_returns_
--   error_simple, simple_one_for_one*, sup_stop_*_dynamic, sup_stop_non_shutdown_
--   exit_dynamic, count_children_supervisor, hanging_restart_loop_simple,
--   simple_one_for_one_scale_many_temporary_children): children here have names.
-- - init returning ignore or a bad value, and a child start returning ignore,
--   {error, R} or {ok, Pid, Info} (sup_start_ignore_init, sup_start_ignore_child,
--   extra_return's Info): there is no init callback, and a child "starts" when its
--   fn is called; a fn that fails at once is a crash like any other (ported as such).
-- - get_childspec, get_callback_module, check_childspecs as a separate call, child
--   `type` and `modules`, hibernation, code_change*, format_log_*, global names,
--   faulty_application_shutdown (applications), significant children and
--   auto_shutdown (significant_*): OTP-only.
-- - brutal kill of a child that ignores its stop (sup_stop_timeout's `killed`):
--   corral cancels at the grace and relies on the child honouring its Cancelled
--   (docs/policies.md, "No brutal kill").
-- - terminate_child without delete_child (a stopped child kept for restart_child;
--   {error, running} / {error, restarting}): corral's remove forgets the child and
--   restart restarts a running one.
-- - do_not_save_start_parameters_for_temporary_children and the scale_* tests:
--   they measure memory and wall time.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local testing = require "corral.testing"

local vrun = support.vrun

-- Let every task run until all are blocked (a child told something has acted on
-- it, and the supervisor has restarted it), before the clock moves.
local function settle() testing.wait_all_tasks_blocked() end

-- "name:status:restarts ..." for sup:children(), in start order.
local function listing(sup)
  local out = {}
  for _, c in ipairs(sup:children()) do out[#out + 1] = c.name .. ":" .. c.status .. ":" .. c.restarts end
  return table.concat(out, " ")
end

-- Wait for an order on ch or for the child's stop; "stop" for the stop.
local function await(child, ch)
  local got
  corral.group(function(g)
    g:spawn(function()
      child:wait_stopping()
      got = got or "stop"
      g:cancel()
    end)
    local order = ch:recv()
    got = got or order
    g:cancel()
  end)
  return got
end

-- A log of events and a mailbox per child name, so that a test can tell a running
-- child what to do, as OTP's tests send `die` or `stop` to a child's pid.
local function kit()
  local k = { log = support.log(), box = {} }
  -- A worker: logs "<name> start <restarts>", then waits for an order or its stop.
  -- "die" raises "<name> died"; "normal" returns; "shutdown" cancels its own task
  -- (OTP's exit(Pid, shutdown)); stopped, it logs "<name> stop", takes `wind_down`
  -- seconds, and returns. fail_from: its runs from that restart count on fail at
  -- once with "<name> start failed" (OTP's child whose start returns an error).
  function k.worker(name, wind_down, fail_from)
    return function(child)
      k.log:stamp(name .. " start " .. child.restarts)
      if fail_from and child.restarts >= fail_from then error(name .. " start failed", 0) end
      local ch = corral.channel(1)
      k.box[name] = ch
      local order = await(child, ch)
      k.log:stamp(name .. " " .. order)
      if order == "die" then error(name .. " died", 0) end
      if order == "shutdown" then
        corral.current_task():cancel("shutdown")
        corral.checkpoint()
      end
      if order == "stop" and wind_down then corral.sleep(wind_down) end
    end
  end
  function k.spec(name, extra)
    local c = { name = name, fn = k.worker(name) }
    for key, v in pairs(extra or {}) do c[key] = v end
    return c
  end
  -- Tell the running instance of `name`, and let everything act on it.
  function k.tell(name, order)
    k.box[name]:send(order)
    settle()
  end
  return k
end

-- sup:method(...) raises; the error's text.
local function raises(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("OTP supervisor_SUITE, ported", function()
  describe("sup_start", function()
    it("sup_start_normal: starts with no children and stops gracefully", function()
      local t = vrun(function()
        supervisor.run({ strategy = "one_for_one", intensity = 2, period = 3600 }, function(sup)
          assert.same({}, sup:children())
          corral.sleep(1)
          sup:stop()
        end)
        supervisor.run({ intensity = 2, period = 3600 })  -- no body, no children: at once
        return corral.now()
      end)
      assert.equal(1, t)
    end)

    it("sup_start_ignore_temporary_child: a temporary child that ends at once is not kept", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ intensity = 2, period = 3600, children = {
          { name = "child1", restart = "temporary", fn = function() k.log:stamp("child1 ignore") end },
          k.spec("child2", { restart = "temporary" }),
        } }, function(sup)
          settle()
          seen[1] = listing(sup)
          -- and the same through start_child
          sup:add({ name = "child3", restart = "temporary", fn = function() k.log:stamp("child3 ignore") end })
          sup:add(k.spec("child4", { restart = "temporary" }))
          settle()
          seen[2] = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.same({ "child2:running:0", "child2:running:0 child4:running:0" }, seen)
      assert.same({ "child1 ignore@0", "child2 start 0@0", "child3 ignore@0", "child4 start 0@0",
        "child4 stop@0", "child2 stop@0" }, k.log.items)
    end)

    it("sup_start_child_returns_error: a child whose fn fails at once is restarted until the supervisor gives up", function()
      -- OTP: start_child returns {error, Reason} and keeps nothing. corral has no
      -- start acknowledgement: add returns once fn was called, and the failure is
      -- a crash, restarted as any other.
      local calls, added = 0, false
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 2, period = 3600 }, function(sup)
          sup:add({ name = "child1", fn = function()
            calls = calls + 1
            error("reason", 0)
          end })
          added = true
          corral.sleep(1)
          error("not reached")
        end)
      end)
      assert.is_true(added)
      assert.equal(3, calls)
      assert.equal("supervisor: restart intensity exceeded (3 restarts in 3600 s)", eg.message)
      assert.same({ "reason", "reason", "reason" }, eg.errors)
      assert.same({ "child1", "child1", "child1" }, eg.tasks)
    end)

    it("sup_start_restart_child_returns_error: a manual restart that fails at once is restarted, and counts from then on", function()
      local hooks = {}
      local k = kit()
      local seen = vrun(function()
        local seen
        supervisor.run({ intensity = 2, period = 3600,
          on_restart = function(name, err, n) hooks[#hooks + 1] = name .. ":" .. tostring(err) .. ":" .. n end,
          children = { { name = "child1", fn = function(c)
            if c.restarts == 1 then
              k.log:stamp("child1 fails")
              error("function_clause", 0)
            end
            return k.worker("child1")(c)
          end } },
        }, function(sup)
          corral.sleep(1)
          sup:restart("child1")
          settle()
          seen = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.equal("child1:running:2", seen)
      assert.same({ "child1:function_clause:2" }, hooks)
      assert.same({ "child1 start 0@0", "child1 stop@1", "child1 fails@1", "child1 start 2@1",
        "child1 stop@1" }, k.log.items)
    end)

    it("sup_start_error_return, sup_start_fail: a bad spec raises at the call, naming the argument", function()
      vrun(function()
        support.assert_arg_error(1, "supervisor.run", "table expected, got nil", function() supervisor.run() end)
        support.assert_arg_error(1, "supervisor.run", "table expected, got string",
          function() supervisor.run("invalid") end)
        support.assert_arg_error(2, "supervisor.run", "function expected",
          function() supervisor.run({}, "init") end)
      end)
    end)

    it("sup_start_map: a child is permanent with a shutdown of 5 s by default", function()
      local log = support.log()
      local t = vrun(function()
        supervisor.run({ children = { { name = "child1", fn = function(c)
          log:stamp("child1 start " .. c.restarts)
          if c.restarts == 0 then return end             -- permanent: restarted
          local ok, e = pcall(corral.sleep, math.huge)   -- ignores its stop
          log:stamp("child1 cancelled")
          if not ok then error(e, 0) end
        end } } }, function(sup)
          corral.sleep(1)
          sup:stop()
        end)
        return corral.now()
      end)
      assert.same({ "child1 start 0@0", "child1 start 1@0", "child1 cancelled@6" }, log.items)
      assert.equal(6, t)
    end)

    it("sup_start_map_faulty_specs: a child without name or fn, or not a table, is a bad argument", function()
      vrun(function()
        local run = supervisor.run
        support.assert_arg_error(1, "supervisor.run", "children[1].name must be a string, got nil",
          function() run({ children = { { fn = print } } }) end)
        support.assert_arg_error(1, "supervisor.run", "children[1].fn must be a function, got nil",
          function() run({ children = { { name = "child2" } } }) end)
        -- corral: an unknown key is a typo, not a flag to ignore (OTP ignores it)
        support.assert_arg_error(1, "supervisor.run", "unknown option 'children[1].silly_flag'",
          function() run({ children = { { name = "child3", fn = print, silly_flag = true } } }) end)
        support.assert_arg_error(1, "supervisor.run", "children[1] must be a table, got string",
          function() run({ children = { "child4" } }) end)
      end)
    end)
  end)

  describe("sup_stop", function()
    it("sup_stop_infinity: waits as long as each child takes, in reverse start order", function()
      local k = kit()
      local t = vrun(function()
        supervisor.run({ intensity = 2, period = 3600 }, function(sup)
          sup:add({ name = "child1", fn = k.worker("child1", 3), shutdown = math.huge })
          sup:add({ name = "child2", fn = k.worker("child2", 2), shutdown = math.huge })
          sup:stop()
        end)
        return corral.now()
      end)
      assert.same({ "child1 start 0@0", "child2 start 0@0", "child2 stop@0", "child1 stop@2" }, k.log.items)
      assert.equal(5, t)
    end)

    it("sup_stop_timeout: a child that ignores its stop is cancelled at its grace", function()
      local k = kit()
      local t = vrun(function()
        supervisor.run({ intensity = 2, period = 3600 }, function(sup)
          sup:add({ name = "child1", fn = k.worker("child1"), shutdown = 1 })
          sup:add({ name = "child2", shutdown = 1, fn = function()
            k.log:stamp("child2 start")
            local ok, e = pcall(corral.sleep, 200)           -- {sleep, 200000}
            k.log:stamp("child2 " .. (ok and "woke" or "cancelled"))
            if not ok then error(e, 0) end
          end })
          sup:stop()
        end)
        return corral.now()
      end)
      assert.same({ "child1 start 0@0", "child2 start@0", "child2 cancelled@1", "child1 stop@1" }, k.log.items)
      assert.equal(1, t)
    end)

    it("sup_stop_brutal_kill: shutdown = 0 cancels the child at once", function()
      local k = kit()
      local t = vrun(function()
        supervisor.run({ intensity = 2, period = 3600 }, function(sup)
          sup:add({ name = "child1", fn = k.worker("child1", 0.5), shutdown = 1 })
          sup:add({ name = "child2", fn = support.sleeper(k.log, "child2 cancelled"), shutdown = 0 })
          corral.sleep(1)
          sup:stop()
        end)
        return corral.now()
      end)
      assert.same({ "child1 start 0@0", "child2 cancelled@1", "child1 stop@1" }, k.log.items)
      assert.equal(1.5, t)
    end)

    it("sup_stop_race: children that end by themselves during the stop are not restarted", function()
      local log, failures = support.log(), {}
      local t = vrun(function()
        supervisor.run({ intensity = 2, period = 3600,
          on_failure = function(name, err) failures[#failures + 1] = name .. ": " .. tostring(err) end,
        }, function(sup)
          sup:add({ name = "child_a", restart = "temporary", shutdown = 1, fn = function(c)
            c:wait_stopping()
            log:stamp("child_a stop")
          end })
          for _, restart in ipairs({ "temporary", "transient", "permanent" }) do
            for _, how in ipairs({ "normal", "shutdown", "other" }) do
              local name = restart .. "/" .. how
              sup:add({ name = name, restart = restart, shutdown = 1, fn = function(c)
                log:stamp(name .. " start " .. c.restarts)
                corral.sleep(0.2)                           -- deaf to the stop
                log:stamp(name .. " ends")
                if how == "other" then error(name .. " failed", 0) end
                if how == "shutdown" then
                  corral.current_task():cancel("shutdown")
                  corral.checkpoint()
                end
              end })
            end
          end
          sup:add({ name = "child_z", restart = "temporary", shutdown = 2, fn = function(c)
            c:wait_stopping()
            corral.sleep(1)
            log:stamp("child_z stop")
          end })
          sup:stop()
        end)
        return corral.now()
      end)
      assert.equal(1, t)
      -- none was started twice, the three that failed went to on_failure in the
      -- order they were stopped (reverse start order), and child_a was stopped last
      local starts, ends = 0, 0
      for _, item in ipairs(log.items) do
        if item:find(" start 0@0", 1, true) then starts = starts + 1 end
        if item:find(" ends@0.2", 1, true) then ends = ends + 1 end
        assert.is_nil(item:find(" start 1", 1, true), item)
      end
      assert.equal(9, starts)
      assert.equal(9, ends)
      assert.same({ "child_z stop@1", "child_a stop@1" }, { log.items[#log.items - 1], log.items[#log.items] })
      assert.same({ "permanent/other: permanent/other failed", "transient/other: transient/other failed",
        "temporary/other: temporary/other failed" }, failures)
    end)
  end)

  describe("child administration", function()
    it("extra_return, child_adm: not_found, already_started and already_present", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        local child1 = k.spec("child1", { shutdown = 1 })
        supervisor.run({ intensity = 2, period = 3600, children = { child1 } }, function(sup)
          seen[#seen + 1] = listing(sup)
          seen[#seen + 1] = raises(sup.add, sup, child1)              -- already_started
          seen[#seen + 1] = raises(sup.remove, sup, "hej")            -- not_found
          seen[#seen + 1] = raises(sup.restart, sup, "hej")
          corral.sleep(1)
          sup:remove("child1")                                        -- terminate + delete
          seen[#seen + 1] = listing(sup)
          seen[#seen + 1] = raises(sup.remove, sup, "child1")         -- deleted already
          seen[#seen + 1] = raises(sup.restart, sup, "child1")
          sup:add(child1)                                             -- start again
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          k.tell("child1", "die")                                     -- restarted
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          sup:restart("child1")                                       -- restart_child
          seen[#seen + 1] = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.same({
        "child1:running:0",
        "supervisor:add: a child named 'child1' already exists",
        "supervisor:remove: no child named 'hej'",
        "supervisor:restart: no child named 'hej'",
        "",
        "supervisor:remove: no child named 'child1'",
        "supervisor:restart: no child named 'child1'",
        "child1:running:0",
        "child1:running:1",
        "child1:running:2",
      }, seen)
      assert.same({ "child1 start 0@0", "child1 stop@1", "child1 start 0@1", "child1 die@2",
        "child1 start 1@2", "child1 stop@3", "child1 start 2@3", "child1 stop@3" }, k.log.items)
    end)

    it("child_specs, child_specs_map: bad child specs are rejected by add and by run", function()
      vrun(function()
        local run = supervisor.run
        local function bad_add(keyword, child)
          run({}, function(sup)
            support.assert_arg_error(1, "add", keyword, function() sup:add(child) end)
            assert.same({}, sup:children())
          end)
        end
        bad_add("child must be a table, got string", "hej")
        bad_add("child.fn must be a function", { name = "child", fn = "mfa" })
        bad_add('child.restart must be "permanent", "transient" or "temporary"',
          { name = "child", fn = print, restart = "prmanent" })
        bad_add("child.shutdown must be a number >= 0", { name = "child", fn = print, shutdown = -10 })
        bad_add("child.name must be a string, got nil", { fn = print })
        bad_add("child.fn must be a function, got nil", { name = "child" })
        bad_add("child.name must be a string, got number", { name = 1, fn = print })
        bad_add("child.shutdown must be a number >= 0", { name = "child", fn = print, shutdown = 0 / 0 })
        bad_add("unknown option 'child.type'", { name = "child", fn = print, type = "wrker" })
        -- every good one is taken
        local n = 0
        run({}, function(sup)
          for _, restart in ipairs({ "permanent", "transient", "temporary" }) do
            for _, shutdown in ipairs({ 0, 1, math.huge }) do
              n = n + 1
              sup:add({ name = "c" .. n, restart = restart, shutdown = shutdown,
                fn = function(c) c:wait_stopping() end })
            end
          end
          assert.equal(9, #sup:children())
          sup:stop()
        end)
        support.assert_arg_error(1, "supervisor.run", "children[2].name 'child' is used twice",
          function() run({ children = { { name = "child", fn = print }, { name = "child", fn = print } } }) end)
        support.assert_arg_error(1, "supervisor.run", "children must be a list, got string",
          function() run({ children = "hej" }) end)
      end)
    end)

    it("sup_flags: a bad strategy, intensity or period is a bad argument", function()
      vrun(function()
        local function bad(keyword, spec)
          support.assert_arg_error(1, "supervisor.run", keyword, function() supervisor.run(spec) end)
        end
        bad('strategy must be "one_for_one", "one_for_all" or "rest_for_one"', { strategy = "none_for_one" })
        bad('strategy must be "one_for_one", "one_for_all" or "rest_for_one"', { strategy = "simple_one_for_one" })
        bad("intensity must be an integer >= 0 or math.huge", { intensity = -1 })
        bad("intensity must be an integer >= 0 or math.huge", { intensity = 1.5 })
        bad("intensity must be an integer >= 0 or math.huge", { intensity = "infinity" })
        bad("intensity must be an integer >= 0 or math.huge", { intensity = 0 / 0 })
        bad("period must be a number > 0", { period = 0 })
        bad("period must be a number > 0", { period = -1 })
        bad("period must be a number > 0", { period = 0 / 0 })
        bad("period must be a number > 0, got string", { period = "infinity" })
        bad("unknown option 'silly_flag'", { silly_flag = true })    -- OTP ignores it
        bad("on_restart must be a function", { on_restart = true })
        bad("on_failure must be a function", { on_failure = "log" })
        bad("backoff must be a table, got number", { backoff = 1 })
        bad("backoff.delay must be a number >= 0", { backoff = { delay = -1 } })
        bad("backoff.factor must be a number >= 0", { backoff = { factor = 0 / 0 } })
        bad("name must be a string or a number", { name = true })
        -- corral: math.huge is a valid intensity and period (OTP: invalid_intensity /
        -- invalid_period for infinity): never give up; every restart counts
        supervisor.run({ intensity = math.huge, period = math.huge })
      end)
    end)
  end)

  -- permanent_normal, transient_normal, temporary_normal, permanent_shutdown,
  -- transient_shutdown, temporary_shutdown, permanent_abnormal,
  -- transient_abnormal, temporary_abnormal
  describe("restart types", function()
    local expected = {
      permanent = { normal = "child1:running:1", shutdown = "child1:running:1", die = "child1:running:1" },
      transient = { normal = "", shutdown = "", die = "child1:running:1" },
      temporary = { normal = "", shutdown = "", die = "" },
    }
    for _, restart in ipairs({ "permanent", "transient", "temporary" }) do
      for _, how in ipairs({ "normal", "shutdown", "die" }) do
        it(restart .. " child ended by " .. how, function()
          local k, hooks = kit(), {}
          local seen = vrun(function()
            local seen
            supervisor.run({ intensity = 2, period = 3600,
              on_restart = function(name, err, n) hooks[#hooks + 1] = "restart " .. name .. " " .. tostring(err) .. " " .. n end,
              on_failure = function(name, err) hooks[#hooks + 1] = "failure " .. name .. " " .. tostring(err) end,
            }, function(sup)
              sup:add(k.spec("child1", { restart = restart }))
              corral.sleep(1)
              k.tell("child1", how)
              seen = listing(sup)
              -- a child ended for good is gone: it can be added again (OTP keeps a
              -- transient child's spec; corral forgets it)
              if seen == "" then
                sup:add(k.spec("child1", { restart = restart }))
                assert.equal("child1:running:0", listing(sup))
              end
              sup:stop()
            end)
            return seen
          end)
          assert.equal(expected[restart][how], seen)
          local restarted = seen ~= ""
          local err = how == "die" and "child1 died" or "nil"
          if restarted then
            assert.same({ "restart child1 " .. err .. " 1" }, hooks)
            assert.same({ "child1 start 0@0", "child1 " .. how .. "@1", "child1 start 1@1", "child1 stop@1" }, k.log.items)
          else
            assert.same(how == "die" and { "failure child1 child1 died" } or {}, hooks)
            assert.same({ "child1 start 0@0", "child1 " .. how .. "@1", "child1 start 0@1", "child1 stop@1" }, k.log.items)
          end
        end)
      end
    end

    it("temporary_bystander: a temporary child stopped by a restart is not restarted", function()
      for _, strategy in ipairs({ "one_for_all", "rest_for_one" }) do
        local k = kit()
        local seen = vrun(function()
          local seen
          supervisor.run({ strategy = strategy, intensity = 2, period = 300, children = {
            k.spec("child1", { shutdown = 0.1 }),
            k.spec("child2", { shutdown = 0.1, restart = "temporary" }),
          } }, function(sup)
            corral.sleep(1)
            k.tell("child1", "normal")
            corral.sleep(0.35)
            seen = listing(sup)
            sup:stop()
          end)
          return seen
        end)
        assert.equal("child1:running:1", seen)
        assert.same({ "child1 start 0@0", "child2 start 0@0", "child1 normal@1", "child2 stop@1",
          "child1 start 1@1", "child1 stop@1.3500000000000001" }, k.log.items, strategy)
      end
    end)
  end)

  describe("restart strategies", function()
    it("multiple_restarts: restarts more than period apart never add up", function()
      local k = kit()
      local seen = vrun(function()
        local seen
        supervisor.run({ intensity = 1, period = 1 }, function(sup)
          sup:add(k.spec("child1", { shutdown = 0 }))
          k.tell("child1", "die")
          for _ = 1, 3 do
            corral.sleep(2.5)                        -- OTP: 2100 ms
            k.tell("child1", "die")
          end
          seen = listing(sup)
          sup:remove("child1")
        end)
        return seen
      end)
      assert.equal("child1:running:4", seen)
      assert.same({ "child1 start 0@0", "child1 die@0", "child1 start 1@0", "child1 die@2.5",
        "child1 start 2@2.5", "child1 die@5", "child1 start 3@5", "child1 die@7.5", "child1 start 4@7.5" }, k.log.items)
    end)

    it("multiple_restarts, at the edge: a restart exactly period ago still counts", function()
      local k = kit()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 1, period = 1 }, function(sup)
          sup:add(k.spec("child1"))
          k.tell("child1", "die")
          corral.sleep(1)
          k.tell("child1", "die")
          error("not reached")
        end)
      end)
      assert.equal("supervisor: restart intensity exceeded (2 restarts in 1 s)", eg.message)
      assert.same({ "child1 died", "child1 died" }, eg.errors)
      assert.same({ "child1 start 0@0", "child1 die@0", "child1 start 1@0", "child1 die@1" }, k.log.items)
    end)

    it("one_for_one: restarts only the child that ended, and gives up past the intensity", function()
      local k = kit()
      local seen = {}
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 2, period = 3600 }, function(sup)
          sup:add(k.spec("child1"))
          sup:add(k.spec("child2"))
          corral.sleep(1)
          k.tell("child1", "die")
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          k.tell("child2", "die")
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          k.tell("child1", "die")
          seen[#seen + 1] = "not reached"
        end)
      end)
      assert.same({ "child1:running:1 child2:running:0", "child1:running:1 child2:running:1" }, seen)
      assert.equal("supervisor: restart intensity exceeded (3 restarts in 3600 s)", eg.message)
      assert.same({ "child1 died", "child2 died", "child1 died" }, eg.errors)
      assert.same({ "child1", "child2", "child1" }, eg.tasks)
      assert.same({ "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child1 start 1@1",
        "child2 die@2", "child2 start 1@2", "child1 die@3", "child2 stop@3" }, k.log.items)
    end)

    it("one_for_one_escalation: a child that fails on every restart makes it give up", function()
      local k = kit()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 4, period = 3600 }, function(sup)
          sup:add({ name = "child1", fn = k.worker("child1", nil, 1) })
          sup:add(k.spec("child2"))
          corral.sleep(1)
          k.tell("child1", "die")
        end)
      end)
      assert.equal("supervisor: restart intensity exceeded (5 restarts in 3600 s)", eg.message)
      assert.same({ "child1 died", "child1 start failed", "child1 start failed", "child1 start failed",
        "child1 start failed" }, eg.errors)
      assert.same({ "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child1 start 1@1",
        "child1 start 2@1", "child1 start 3@1", "child1 start 4@1", "child2 stop@1" }, k.log.items)
    end)

    it("one_for_all: stops the others in reverse order and restarts all in order", function()
      local k = kit()
      local seen = {}
      local eg = vrun(function()
        return support.error_group(supervisor.run, { strategy = "one_for_all", intensity = 2, period = 3600 },
          function(sup)
            sup:add(k.spec("child1"))
            sup:add(k.spec("child2"))
            sup:add(k.spec("child3"))
            corral.sleep(1)
            k.tell("child1", "die")
            seen[#seen + 1] = listing(sup)
            corral.sleep(1)
            k.tell("child1", "die")
            seen[#seen + 1] = listing(sup)
            corral.sleep(1)
            k.tell("child1", "die")
          end)
      end)
      assert.same({ "child1:running:1 child2:running:1 child3:running:1",
        "child1:running:2 child2:running:2 child3:running:2" }, seen)
      assert.equal("supervisor: restart intensity exceeded (3 restarts in 3600 s)", eg.message)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child3 start 0@0",
        "child1 die@1", "child3 stop@1", "child2 stop@1",
        "child1 start 1@1", "child2 start 1@1", "child3 start 1@1",
        "child1 die@2", "child3 stop@2", "child2 stop@2",
        "child1 start 2@2", "child2 start 2@2", "child3 start 2@2",
        "child1 die@3", "child3 stop@3", "child2 stop@3",
      }, k.log.items)
    end)

    it("one_for_all_escalation: a sibling that fails on every restart makes it give up", function()
      local k = kit()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { strategy = "one_for_all", intensity = 4, period = 3600 },
          function(sup)
            sup:add(k.spec("child1"))
            sup:add({ name = "child2", fn = k.worker("child2", nil, 1) })
            corral.sleep(1)
            k.tell("child1", "die")
          end)
      end)
      assert.equal("supervisor: restart intensity exceeded (5 restarts in 3600 s)", eg.message)
      assert.same({ "child1 died", "child2 start failed", "child2 start failed", "child2 start failed",
        "child2 start failed" }, eg.errors)
      assert.same({ "child1", "child2", "child2", "child2", "child2" }, eg.tasks)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child2 stop@1",
        "child1 start 1@1", "child2 start 1@1", "child1 stop@1",
        "child1 start 2@1", "child2 start 2@1", "child1 stop@1",
        "child1 start 3@1", "child2 start 3@1", "child1 stop@1",
        "child1 start 4@1", "child2 start 4@1", "child1 stop@1",
      }, k.log.items)
    end)

    it("one_for_all_other_child_fails_restart: a child that fails to restart stops the restarted ones again", function()
      local k = kit()
      local seen = vrun(function()
        local seen
        supervisor.run({ strategy = "one_for_all", intensity = 3, period = 3600, children = {
          k.spec("child1"),
          { name = "child2", fn = function(c)
            if c.restarts == 1 then k.log:stamp("child2 stop normal"); return end   -- {stop, normal}
            return k.worker("child2")(c)
          end },
        } }, function(sup)
          corral.sleep(1)
          k.tell("child1", "die")
          seen = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.equal("child1:running:2 child2:running:2", seen)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child2 stop@1",
        "child1 start 1@1", "child2 stop normal@1", "child1 stop@1",
        "child1 start 2@1", "child2 start 2@1", "child2 stop@1", "child1 stop@1",
      }, k.log.items)
    end)

    it("rest_for_one: restarts the child and those after it, and gives up past the intensity", function()
      local k = kit()
      local seen = {}
      local eg = vrun(function()
        return support.error_group(supervisor.run, { strategy = "rest_for_one", intensity = 2, period = 3600 },
          function(sup)
            sup:add(k.spec("child1"))
            sup:add(k.spec("child2"))
            sup:add(k.spec("child3"))
            corral.sleep(1)
            k.tell("child2", "die")
            seen[#seen + 1] = listing(sup)
            corral.sleep(1)
            k.tell("child3", "die")
            seen[#seen + 1] = listing(sup)
            corral.sleep(1)
            k.tell("child2", "die")
          end)
      end)
      assert.same({ "child1:running:0 child2:running:1 child3:running:1",
        "child1:running:0 child2:running:1 child3:running:2" }, seen)
      assert.equal("supervisor: restart intensity exceeded (3 restarts in 3600 s)", eg.message)
      assert.same({ "child2 died", "child3 died", "child2 died" }, eg.errors)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child3 start 0@0",
        "child2 die@1", "child3 stop@1", "child2 start 1@1", "child3 start 1@1",
        "child3 die@2", "child3 start 2@2",
        "child2 die@3", "child3 stop@3", "child1 stop@3",
      }, k.log.items)
    end)

    it("rest_for_one_escalation: a later child that fails on every restart makes it give up", function()
      local k = kit()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { strategy = "rest_for_one", intensity = 4, period = 3600 },
          function(sup)
            sup:add(k.spec("child1"))
            sup:add({ name = "child2", fn = k.worker("child2", nil, 1) })
            corral.sleep(1)
            k.tell("child1", "die")
          end)
      end)
      assert.equal("supervisor: restart intensity exceeded (5 restarts in 3600 s)", eg.message)
      assert.same({ "child1", "child2", "child2", "child2", "child2" }, eg.tasks)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child2 stop@1",
        "child1 start 1@1", "child2 start 1@1", "child2 start 2@1", "child2 start 3@1",
        "child2 start 4@1", "child1 stop@1",
      }, k.log.items)
    end)

    it("rest_for_one_other_child_fails_restart: only the failing child and those after it restart again", function()
      local k = kit()
      local seen = vrun(function()
        local seen
        supervisor.run({ strategy = "rest_for_one", intensity = 3, period = 3600, children = {
          k.spec("child1"),
          { name = "child2", fn = function(c)
            if c.restarts == 1 then k.log:stamp("child2 stop normal"); return end
            return k.worker("child2")(c)
          end },
        } }, function(sup)
          corral.sleep(1)
          k.tell("child1", "die")
          seen = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.equal("child1:running:1 child2:running:2", seen)
      assert.same({
        "child1 start 0@0", "child2 start 0@0", "child1 die@1", "child2 stop@1",
        "child1 start 1@1", "child2 stop normal@1", "child2 start 2@1",
        "child2 stop@1", "child1 stop@1",
      }, k.log.items)
    end)

    it("order_of_children: starts in the order given, stops in reverse", function()
      local k = kit()
      local ids = { "ch7", "ch3", "ch10", "ch2", "ch5" }
      vrun(function()
        local children = {}
        for i, id in ipairs(ids) do children[i] = k.spec(id) end
        supervisor.run({ strategy = "rest_for_one", intensity = 2, period = 3600, children = children },
          function(sup)
            corral.sleep(1)
            k.tell("ch10", "die")
            corral.sleep(1)
            sup:stop()
          end)
      end)
      assert.same({
        "ch7 start 0@0", "ch3 start 0@0", "ch10 start 0@0", "ch2 start 0@0", "ch5 start 0@0",
        "ch10 die@1", "ch5 stop@1", "ch2 stop@1",
        "ch10 start 1@1", "ch2 start 1@1", "ch5 start 1@1",
        "ch5 stop@2", "ch2 stop@2", "ch10 stop@2", "ch3 stop@2", "ch7 stop@2",
      }, k.log.items)
    end)
  end)

  describe("misc", function()
    it("child_unlink: a child that swallows its stop still lets the supervisor go on", function()
      local log = support.log()
      local seen = vrun(function()
        local seen
        supervisor.run({ intensity = 2, period = 3600 }, function(sup)
          sup:add({ name = "naughty_child", shutdown = 1, fn = function()
            pcall(corral.sleep, math.huge)     -- catches its Cancelled and returns
            log:stamp("naughty_child returns")
          end })
          sup:add({ name = "other", fn = function(c) c:wait_stopping() end })
          sup:remove("naughty_child")
          log:stamp("removed")
          seen = listing(sup)                  -- not restarted: it was being removed
          sup:stop()
        end)
        return seen
      end)
      assert.equal("other:running:0", seen)
      assert.same({ "naughty_child returns@1", "removed@1" }, log.items)
    end)

    it("tree: a failing subtree restarts under one_for_all, without its dynamic children", function()
      local k = kit()
      local sups, seen = {}, {}
      local function sub(name, children, dynamic)
        return { name = name, shutdown = math.huge, restart = dynamic == "transient" and "transient" or nil,
          fn = function(c)
            k.log:stamp(name .. " start " .. c.restarts)
            supervisor.run({ name = name, intensity = 4, period = 3600, children = children }, function(s)
              sups[name] = s
              c:wait_stopping()
              s:stop()
            end)
          end }
      end
      vrun(function()
        supervisor.run({ name = "top", strategy = "one_for_all", intensity = 4, period = 3600 }, function(top)
          top:add(sub("supchild1", { k.spec("child1"), k.spec("child2") }))
          top:add(sub("supchild2", {}))
          top:add(sub("supchild3", {}, "transient"))
          top:remove("supchild3")
          seen[#seen + 1] = listing(top)
          seen[#seen + 1] = listing(sups.supchild1)
          seen[#seen + 1] = listing(sups.supchild2)
          local sup2 = sups.supchild2
          sup2:add({ name = "child3", fn = k.worker("child3", nil, 1) })
          sup2:add(k.spec("child4"))
          corral.sleep(1)
          k.tell("child4", "die")                    -- only child4 restarts
          seen[#seen + 1] = listing(sups.supchild1)
          seen[#seen + 1] = listing(sup2)
          corral.sleep(1)
          k.tell("child3", "die")                    -- its restarts fail: supchild2 gives up
          seen[#seen + 1] = listing(top)
          seen[#seen + 1] = listing(sups.supchild1)
          seen[#seen + 1] = listing(sups.supchild2)
          assert.are_not.equal(sup2, sups.supchild2)
          top:stop()
        end)
      end)
      assert.same({
        "supchild1:running:0 supchild2:running:0",
        "child1:running:0 child2:running:0",
        "",
        "child1:running:0 child2:running:0",
        "child3:running:0 child4:running:1",
        "supchild1:running:1 supchild2:running:1",
        "child1:running:0 child2:running:0",
        "",
      }, seen)
    end)

    it("count_children: lists every child added, and none once they ended", function()
      local done = corral.event
      local seen = vrun(function()
        local seen = {}
        local ends = done()
        supervisor.run({ intensity = 2, period = 3600 }, function(sup)
          local function add(from, to)
            for i = from, to do
              sup:add({ name = "child" .. i, restart = "temporary", fn = function() ends:wait() end })
            end
          end
          add(1, 1000)
          seen[1] = #sup:children()
          add(1001, 2000)
          local a, b = sup:children(), sup:children()
          seen[2] = #a
          assert.same(a, b)
          assert.same({ name = "child1", status = "running", restarts = 0 }, a[1])
          assert.same({ name = "child2000", status = "running", restarts = 0 }, a[2000])
          ends:set()
          settle()
          seen[3] = #sup:children()
        end)
        return seen
      end)
      assert.same({ 1000, 2000, 0 }, seen)
    end)

    it("count_restarting_children: a child waiting out its backoff is restarting", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ intensity = 20, period = 10, backoff = { delay = 2, factor = 1 } }, function(sup)
          for i = 1, 3 do sup:add(k.spec("ch" .. i)) end
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          k.tell("ch1", "die")
          k.tell("ch2", "die")
          seen[#seen + 1] = listing(sup)
          corral.sleep(2)
          settle()
          seen[#seen + 1] = listing(sup)
          sup:remove("ch3")
          seen[#seen + 1] = listing(sup)
          sup:remove("ch1")
          sup:remove("ch2")
          seen[#seen + 1] = listing(sup)
        end)
        return seen
      end)
      assert.same({
        "ch1:running:0 ch2:running:0 ch3:running:0",
        "ch1:restarting:1 ch2:restarting:1 ch3:running:0",
        "ch1:running:1 ch2:running:1 ch3:running:0",
        "ch1:running:1 ch2:running:1",
        "",
      }, seen)
      -- (both backoffs end at 3: which restart starts first is the schedule's)
      assert.same({ "ch1 start 0@0", "ch2 start 0@0", "ch3 start 0@0", "ch1 die@1", "ch2 die@1",
        "ch1 start 1@3", "ch2 start 1@3" }, support.by_time({ table.unpack(k.log.items, 1, 7) }))
      assert.same({ "ch3 stop@3", "ch1 stop@3", "ch2 stop@3" }, { table.unpack(k.log.items, 8) })
    end)

    it("do_not_save_child_specs_for_temporary_children: what each restart type keeps", function()
      -- After the child ends (how), can a child of the same name be added again?
      -- already_started (OTP) = "already exists" here. corral forgets a removed
      -- child and a transient one that ended normally (OTP keeps their specs:
      -- already_present).
      local hows = { "die", "normal", "shutdown", "remove" }
      local kept = {
        permanent = { die = true, normal = true, shutdown = true, remove = false },
        transient = { die = true, normal = false, shutdown = false, remove = false },
        temporary = { die = false, normal = false, shutdown = false, remove = false },
      }
      for _, strategy in ipairs({ "one_for_all", "one_for_one", "rest_for_one" }) do
        for _, how in ipairs(hows) do
          local k = kit()
          vrun(function()
            local failures = {}
            supervisor.run({ strategy = strategy, intensity = 2, period = 3600,
              on_failure = function(name, err) failures[#failures + 1] = name .. ": " .. err end,
            }, function(sup)
              for i, restart in ipairs({ "permanent", "transient", "temporary" }) do
                local spec = k.spec("child" .. i, { restart = restart })
                sup:add(spec)
                if how == "remove" then sup:remove(spec.name) else k.tell(spec.name, how) end
                local ok, e = pcall(sup.add, sup, spec)
                local what = strategy .. " " .. restart .. " " .. how
                if kept[restart][how] then
                  assert.is_false(ok, what)
                  assert.equal("supervisor:add: a child named '" .. spec.name .. "' already exists",
                    tostring(e), what)
                else
                  assert.is_true(ok, what .. ": " .. tostring(e))
                end
              end
              sup:stop()
            end)
            assert.same(how == "die" and { "child3: child3 died" } or {}, failures)
          end)
        end
      end
    end)

    it("simple_global_supervisor: a middle supervisor and its worker restart under one_for_all", function()
      local k = kit()
      local middle
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ name = "top", strategy = "one_for_all", intensity = 3, period = 60, children = {
          { name = "middle", shutdown = 2, fn = function(c)
            k.log:stamp("middle start " .. c.restarts)
            supervisor.run({ name = "sup2", strategy = "one_for_all", intensity = 3, period = 60,
              children = { k.spec("child", { shutdown = 2 }) } }, function(s)
              middle = s
              local ch = corral.channel(1)
              k.box.middle = ch
              local order = await(c, ch)
              if order == "die" then error("middle killed", 0) end   -- kill_supervisor
              s:stop()
            end)
          end },
        } }, function(top)
          settle()
          k.tell("middle", "die")                    -- kill_supervisor
          seen[#seen + 1] = listing(top) .. " / " .. listing(middle)
          k.tell("child", "die")                     -- kill_worker
          seen[#seen + 1] = listing(top) .. " / " .. listing(middle)
          k.tell("child", "normal")                  -- exit_worker
          seen[#seen + 1] = listing(top) .. " / " .. listing(middle)
          corral.sleep(60)
          middle:restart("child")                    -- restart_worker
          seen[#seen + 1] = listing(top) .. " / " .. listing(middle)
          top:stop()
        end)
        return seen
      end)
      assert.same({
        "middle:running:1 / child:running:0",
        "middle:running:1 / child:running:1",
        "middle:running:1 / child:running:2",
        "middle:running:1 / child:running:3",
      }, seen)
      assert.same({
        "middle start 0@0", "child start 0@0", "child stop@0", "middle start 1@0", "child start 0@0",
        "child die@0", "child start 1@0", "child normal@0", "child start 2@0",
        "child stop@60", "child start 3@60", "child stop@60",
      }, k.log.items)
    end)

    it("hanging_restart_loop: a child in its backoff can be added to, restarted, removed and stopped", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ intensity = 8, period = 10, backoff = { delay = 2, factor = 1 } }, function(sup)
          local child1 = k.spec("child1", { shutdown = 0 })
          sup:add(child1)
          k.tell("child1", "die")                   -- restarting until t = 2
          corral.sleep(1)
          seen[#seen + 1] = listing(sup)
          seen[#seen + 1] = raises(sup.add, sup, child1)          -- already_present
          sup:restart("child1")                                   -- corral: skips the backoff
          seen[#seen + 1] = listing(sup)
          k.tell("child1", "die")                   -- restarting until t = 3
          seen[#seen + 1] = listing(sup)
          sup:remove("child1")                      -- corral: a remove ends the wait
          seen[#seen + 1] = listing(sup)
          sup:add(child1)
          k.tell("child1", "die")                   -- restarting until t = 3
          corral.sleep(0.5)
          sup:stop()                                -- does not wait out the backoff
          seen[#seen + 1] = tostring(corral.now())
        end)
        return seen
      end)
      assert.same({
        "child1:restarting:1",
        "supervisor:add: a child named 'child1' already exists",
        "child1:running:1",
        "child1:restarting:2",
        "",
        "1.5",
      }, seen)
      assert.same({ "child1 start 0@0", "child1 die@0", "child1 start 1@1", "child1 die@1",
        "child1 start 0@1", "child1 die@1" }, k.log.items)
    end)

    it("hanging_restart_loop_rest_for_one: the children after one in its backoff wait with it", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ strategy = "rest_for_one", intensity = 8, period = 10,
          backoff = { delay = 2, factor = 1 } }, function(sup)
          sup:add(k.spec("child1"))
          sup:add(k.spec("child2"))
          sup:add(k.spec("child3"))
          k.tell("child2", "die")                   -- child2 and child3 wait until t = 2
          corral.sleep(1)
          seen[#seen + 1] = listing(sup)
          sup:remove("child2")
          seen[#seen + 1] = listing(sup)
          corral.sleep(1)
          settle()
          seen[#seen + 1] = listing(sup)            -- child3 started at the end of its wait
          k.tell("child3", "die")
          corral.sleep(0.5)
          sup:stop()
          seen[#seen + 1] = tostring(corral.now())
        end)
        return seen
      end)
      assert.same({
        "child1:running:0 child2:restarting:1 child3:restarting:1",
        "child1:running:0 child3:restarting:1",
        "child1:running:0 child3:running:1",
        "2.5",
      }, seen)
      assert.same({ "child1 start 0@0", "child2 start 0@0", "child3 start 0@0", "child2 die@0",
        "child3 stop@0", "child3 start 1@2", "child3 die@2", "child1 stop@2.5" }, k.log.items)
    end)
  end)
end)

-- A Cancelled whose scope has exited: what a child might keep and raise later.
local function stale_cancelled()
  local saved
  corral.move_on_after(0, function()
    local _, e = pcall(corral.sleep, 1)
    saved = e
  end)
  assert.is_true(corral.is_cancelled(saved))
  return saved
end

describe("a hostile user of supervisor.run", function()
  describe("children that raise Cancelled-looking values", function()
    -- Each is a failure, not a peaceful end: a transient child is restarted, and
    -- on_restart hears of it.
    local cases = {
      { "a Cancelled whose scope has exited", stale_cancelled,
        "a Cancelled was raised outside the scope it cancelled" },
      { "a table that prints as a Cancelled", function()
        return setmetatable({ reason = "x", source = "explicit" },
          { __tostring = function() return "Cancelled: x (source=explicit)" end, __name = "corral.Cancelled" })
      end, "Cancelled: x (source=explicit)" },
      { "the string 'Cancelled'", function() return "Cancelled" end, "Cancelled" },
    }
    for _, case in ipairs(cases) do
      it("fails when it raises " .. case[1], function()
        local heard, seen = {}, {}
        vrun(function()
          local value = case[2]()
          for _, restart in ipairs({ "transient", "temporary" }) do
            supervisor.run({
              on_restart = function(name, err, n) heard[#heard + 1] = { name, err, n, support.time() } end,
              on_failure = function(name, err) heard[#heard + 1] = { name, err, "failure", support.time() } end,
            }, function(sup)
              sup:add({ name = restart, restart = restart, fn = function(c)
                if c.restarts == 0 then
                  corral.sleep(1)
                  error(value, 0)
                end
                c:wait_stopping()
              end })
              corral.sleep(2)
              seen[#seen + 1] = listing(sup)
              sup:stop()
            end)
          end
        end)
        assert.same({ "transient:running:1", "" }, seen)
        assert.equal(2, #heard)
        assert.same({ "transient", 1, "1" }, { heard[1][1], heard[1][3], heard[1][4] })
        assert.same({ "temporary", "failure", "3" }, { heard[2][1], heard[2][3], heard[2][4] })
        support.assert_mentions(heard[1][2], case[3])
        support.assert_mentions(heard[2][2], case[3])
      end)
    end

    it("fails when it raises another task's live Cancelled", function()
      local heard, seen = {}, nil
      vrun(function()
        local live, caught, done = nil, corral.event(), corral.event()
        corral.group(function(g)
          g:spawn(function()                    -- holds a Cancelled its scope is still cancelled for
            corral.scope(function(s)
              s:cancel("not the child's")
              local _, e = pcall(corral.checkpoint)
              live = e
              caught:set()
              corral.scope(function() done:wait() end, { shield = true })
            end)
          end)
          caught:wait()
          supervisor.run({ on_restart = function(name, err, n) heard[#heard + 1] = { name, tostring(err), n } end },
            function(sup)
              sup:add({ name = "w", restart = "transient", fn = function(c)
                if c.restarts == 0 then error(live, 0) end
                c:wait_stopping()
              end })
              settle()
              seen = listing(sup)
              sup:stop()
            end)
          done:set()
        end)
      end)
      assert.equal("w:running:1", seen)
      assert.equal(1, #heard)
      support.assert_mentions(heard[1][2], "a Cancelled reached the end of a task", "not the child's")
    end)

    it("fails when a task it spawned fails, and that task's error is the child's", function()
      local heard = {}
      vrun(function()
        supervisor.run({ on_restart = function(name, err, n) heard[#heard + 1] = { name, err, n } end },
          function(sup)
            sup:add({ name = "w", restart = "transient", fn = function(c)
              if c.restarts == 0 then
                corral.current_task().group:spawn(function()
                  corral.sleep(1)
                  error("helper broke", 0)
                end)
              end
              c:wait_stopping()
            end })
            corral.sleep(2)
            assert.equal("w:running:1", listing(sup))
            sup:stop()
          end)
      end)
      assert.equal(1, #heard)
      assert.is_true(corral.is_error_group(heard[1][2]))
      assert.same({ "helper broke" }, heard[1][2].errors)
    end)

    it("fails when it calls coroutine.yield, saying why", function()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 0, children = {
          { name = "w", fn = function() coroutine.yield() end } } })
      end)
      assert.equal("supervisor: restart intensity exceeded (1 restart in 5 s)", eg.message)
      support.assert_mentions(eg.errors[1], "attempt to yield from a corral task with coroutine.yield")
    end)
  end)

  describe("hooks that raise or block", function()
    for _, hook in ipairs({ "on_restart", "on_failure" }) do
      it(hook .. " that raises fails the supervisor, with the child's failure, cancelling the rest at once", function()
        local log = support.log()
        local eg, t = vrun(function()
          local spec = { [hook] = function(name)
            log:stamp("hook " .. name)
            error("hook broke", 0)
          end }
          local eg = support.error_group(supervisor.run, spec, function(sup)
            sup:add({ name = "a", shutdown = 3, fn = support.sleeper(log, "a cancelled") })
            sup:add({ name = "b", restart = hook == "on_failure" and "temporary" or nil, fn = function()
              corral.sleep(1)
              error("b crash", 0)
            end })
            local ok, e = pcall(corral.sleep, 5)
            log:stamp(ok and "body slept" or "body " .. tostring(corral.is_cancelled(e)))
            if not ok then error(e, 0) end
          end)
          return eg, corral.now()
        end)
        assert.equal(1, t)                      -- a's 3 s grace is not waited for
        assert.same({ "hook broke", "b crash" }, eg.errors)
        assert.same({ "supervisor", "b" }, eg.tasks)
        assert.same({ "a cancelled@1", "body true@1", "hook b@1" }, support.by_time(log.items))
      end)
    end

    it("on_restart that raises a stale Cancelled fails the supervisor too", function()
      local eg = vrun(function()
        local stale = stale_cancelled()
        return support.error_group(supervisor.run, { on_restart = function() error(stale, 0) end }, function(sup)
          sup:add({ name = "b", fn = function()
            corral.sleep(1)
            error("b crash", 0)
          end })
          corral.sleep(5)
        end)
      end)
      assert.same({ "supervisor", "b" }, eg.tasks)
      support.assert_mentions(eg.errors[1], "a Cancelled was raised outside the scope it cancelled")
    end)

    it("on_failure that raises while the supervisor stops fails it, cancelling the rest at once", function()
      local log = support.log()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { on_failure = function(name)
          log:stamp("on_failure " .. name)
          error("hook broke", 0)
        end }, function(sup)
          sup:add({ name = "a", shutdown = 3, fn = function(c)
            local ok, e = pcall(c.wait_stopping, c)
            log:stamp(ok and "a asked to stop" or "a cancelled")
            if not ok then error(e, 0) end
          end })
          sup:add({ name = "b", fn = function(c)
            c:wait_stopping()
            error("b crash on stop", 0)
          end })
          corral.sleep(1)
          sup:stop()
        end)
      end)
      assert.same({ "hook broke", "b crash on stop" }, eg.errors)
      assert.same({ "on_failure b@1", "a cancelled@1" }, log.items)
    end)

    it("on_restart that blocks holds a stop up, and the restart it was for does not happen", function()
      local k, failures = kit(), {}
      local seen = vrun(function()
        local seen = {}
        supervisor.run({
          on_restart = function(name)
            k.log:stamp("on_restart " .. name)
            corral.sleep(5)
            k.log:stamp("on_restart returns")
          end,
          on_failure = function(name, err) failures[#failures + 1] = name .. ": " .. err end,
          children = { k.spec("a"), k.spec("b") },
        }, function(sup)
          corral.sleep(1)
          k.tell("b", "die")
          corral.sleep(1)
          seen[#seen + 1] = listing(sup)
          sup:stop()
          seen[#seen + 1] = support.time()
        end)
        return seen
      end)
      assert.same({ "a:running:0 b:restarting:0", "6" }, seen)
      assert.same({ "a start 0@0", "b start 0@0", "b die@1", "on_restart b@1", "on_restart returns@6",
        "a stop@6" }, k.log.items)
      assert.same({}, failures)               -- on_restart heard of it: not reported again
    end)

    it("on_failure that blocks holds up the restart of another child", function()
      local k = kit()
      vrun(function()
        supervisor.run({
          on_failure = function(name)
            k.log:stamp("on_failure " .. name)
            corral.sleep(2)
          end,
          children = { k.spec("a", { restart = "temporary" }), k.spec("b") },
        }, function(sup)
          corral.sleep(1)
          k.tell("a", "die")
          corral.sleep(0.5)
          k.tell("b", "die")
          corral.sleep(2)
          sup:stop()
        end)
      end)
      assert.same({ "a start 0@0", "b start 0@0", "a die@1", "on_failure a@1", "b die@1.5",
        "b start 1@3", "b stop@3.5" }, k.log.items)
    end)

    for _, hook in ipairs({ "on_restart", "on_failure" }) do
      it("an outer cancel while " .. hook .. " blocks ends the supervisor at once, in peace", function()
        local log = support.log()
        local r = vrun(function()
          return table.pack(corral.move_on_after(3, supervisor.run, {
            [hook] = function(name)
              log:stamp("hook " .. name)
              corral.sleep(10)
              log:stamp("hook returned")
            end,
            children = {
              { name = "a", shutdown = 5, fn = support.sleeper(log, "a cancelled") },
              { name = "b", restart = hook == "on_failure" and "temporary" or nil, fn = function()
                corral.sleep(1)
                error("b crash", 0)
              end },
            },
          }))
        end)
        assert.same({ false, n = 1 }, r)          -- the crash the hook heard of is not raised
        assert.same({ "hook b@1", "a cancelled@3" }, log.items)
      end)
    end

    it("hooks cannot add, remove or restart (they would wait for themselves), but can stop", function()
      for _, method in ipairs({ "add", "remove", "restart" }) do
        local eg = vrun(function()
          local sup_
          return support.error_group(supervisor.run, { on_restart = function()
            if method == "add" then sup_:add({ name = "x", fn = print }) else sup_[method](sup_, "b") end
          end }, function(sup)
            sup_ = sup
            sup:add({ name = "b", fn = function()
              corral.sleep(1)
              error("b crash", 0)
            end })
            corral.sleep(5)
          end)
        end)
        support.assert_mentions(eg.errors[1], "supervisor:" .. method
          .. ": called from on_restart or on_failure, which the supervisor's own task runs: it would wait for itself")
        assert.same({ "supervisor", "b" }, eg.tasks)
      end
      local k = kit()
      vrun(function()
        local sup_
        supervisor.run({ on_restart = function(name)
          k.log:stamp("on_restart " .. name)
          sup_:stop()                            -- returns at once; the stop follows the hook
          k.log:stamp("on_restart returns")
        end, children = { k.spec("a"), k.spec("b") } }, function(sup)
          sup_ = sup
          corral.sleep(1)
          k.tell("b", "die")
          corral.sleep(1)
          assert.same({}, sup:children())
        end)
      end)
      assert.same({ "a start 0@0", "b start 0@0", "b die@1", "on_restart b@1", "on_restart returns@1",
        "a stop@1" }, k.log.items)
    end)

    it("a hook that cancels its own task ends the supervisor as a cancelled group", function()
      local log = support.log()
      local r = vrun(function()
        return table.pack(supervisor.run({ on_restart = function()
          corral.current_task():cancel("hook")
          corral.checkpoint()
        end }, function(sup)
          sup:add({ name = "a", shutdown = 3, fn = support.sleeper(log, "a cancelled") })
          sup:add({ name = "b", fn = function()
            corral.sleep(1)
            error("b crash", 0)
          end })
          corral.sleep(5)
          log:stamp("body not cancelled")
        end))
      end)
      assert.equal(0, r.n)
      assert.same({ "a cancelled@1" }, log.items)
    end)
  end)

  describe("names it does not know", function()
    it("remove and restart of unknown, ended, or removed names raise naming the name", function()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ on_failure = function(name, err) seen[#seen + 1] = name .. ": " .. err end }, function(sup)
          sup:add({ name = "transient", restart = "transient", fn = function() end })
          sup:add({ name = "temporary", restart = "temporary", fn = function() error("x", 0) end })
          sup:add({ name = "gone", fn = function(c) c:wait_stopping() end })
          sup:remove("gone")
          settle()
          for _, name in ipairs({ "transient", "temporary", "gone", "never", "" }) do
            seen[#seen + 1] = raises(sup.remove, sup, name)
            seen[#seen + 1] = raises(sup.restart, sup, name)
          end
        end)
        return seen
      end)
      assert.same({ "temporary: x",
        "supervisor:remove: no child named 'transient'", "supervisor:restart: no child named 'transient'",
        "supervisor:remove: no child named 'temporary'", "supervisor:restart: no child named 'temporary'",
        "supervisor:remove: no child named 'gone'", "supervisor:restart: no child named 'gone'",
        "supervisor:remove: no child named 'never'", "supervisor:restart: no child named 'never'",
        "supervisor:remove: no child named ''", "supervisor:restart: no child named ''",
      }, seen)
    end)

    it("two adds of one name side by side: one starts it, the other raises", function()
      local r, starts = {}, 0
      vrun(function()
        supervisor.run({}, function(sup)
          local child = { name = "x", fn = function(c)
            starts = starts + 1
            c:wait_stopping()
          end }
          corral.group(function(g)
            for i = 1, 2 do g:spawn(function() r[i] = table.pack(pcall(sup.add, sup, child)) end) end
          end)
          sup:stop()
        end)
      end)
      assert.equal(1, starts)
      local fails = (r[1][1] and 0 or 1) + (r[2][1] and 0 or 1)
      assert.equal(1, fails)
      support.assert_mentions(r[1][1] and r[2][2] or r[1][2], "supervisor:add: a child named 'x' already exists")
    end)

    it("methods reject bad arguments, naming the method and the argument", function()
      vrun(function()
        supervisor.run({}, function(sup)
          support.assert_arg_error(1, "add", "child must be a table, got nil", function() sup:add() end)
          support.assert_arg_error(1, "remove", "string expected, got nil", function() sup:remove() end)
          support.assert_arg_error(1, "restart", "string expected, got number", function() sup:restart(1) end)
          support.assert_arg_error(1, "stop", "grace must be a number >= 0", function() sup:stop(-1) end)
          support.assert_arg_error(1, "stop", "grace must be a number >= 0", function() sup:stop(0 / 0) end)
          support.assert_arg_error(1, "stop", "grace must be a number >= 0", function() sup:stop("soon") end)
          support.assert_arg_error(1, "stop", "call a method with a colon", function() sup.stop() end)
          support.assert_arg_error(1, "children", "corral.Supervisor expected, got table",
            function() sup.children({}) end)
          support.assert_arg_error(2, "remove", "no argument expected", function() sup:remove("a", "b") end)
          assert.same({}, sup:children())
        end)
      end)
    end)
  end)

  describe("children that call their own supervisor", function()
    it("stop() from a child's fn never returns: that child is cancelled at its turn, the others get their grace", function()
      local log = support.log()
      local t = vrun(function()
        supervisor.run({}, function(sup)
          sup:add({ name = "a", shutdown = 5, fn = function(c)
            c:wait_stopping()
            log:stamp("a asked to stop")
            corral.sleep(0.5)
            log:stamp("a stops")
          end })
          sup:add({ name = "b", shutdown = 5, fn = function()
            corral.sleep(1)
            local ok, e = pcall(sup.stop, sup)
            log:stamp(ok and "b: stop returned" or "b: " .. tostring(corral.is_cancelled(e)))
            if not ok then error(e, 0) end
          end })
          sup:add({ name = "c", shutdown = 5, fn = function(c)
            c:wait_stopping()
            log:stamp("c asked to stop")
            corral.sleep(2)
            log:stamp("c stops")
          end })
        end)
        return corral.now()
      end)
      assert.same({ "c asked to stop@1", "c stops@3", "b: true@3", "a asked to stop@3", "a stops@3.5" }, log.items)
      assert.equal(3.5, t)
    end)

    it("stop(grace) from a task the child spawned waits out that child's grace", function()
      local log = support.log()
      local t = vrun(function()
        supervisor.run({}, function(sup)
          sup:add({ name = "a", shutdown = 2, fn = function(c)
            corral.current_task().group:spawn(function()
              corral.sleep(1)
              local ok, e = pcall(sup.stop, sup)
              log:stamp(ok and "helper: stop returned" or "helper: " .. tostring(corral.is_cancelled(e)))
              if not ok then error(e, 0) end
            end)
            c:wait_stopping()
            log:stamp("a asked to stop")
          end })
        end)
        return corral.now()
      end)
      assert.same({ "a asked to stop@1", "helper: true@3" }, log.items)
      assert.equal(3, t)
    end)

    it("remove and restart of itself from its fn: it ends at once, and a restart starts it again", function()
      local log = support.log()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({}, function(sup)
          for _, method in ipairs({ "remove", "restart" }) do
            sup:add({ name = method, shutdown = 5, fn = function(c)
              log:stamp(method .. " start " .. c.restarts)
              if c.restarts > 0 then return c:wait_stopping() end
              corral.sleep(method == "remove" and 1 or 1.5)
              local ok, e = pcall(sup[method], sup, method)
              log:stamp(method .. (ok and " returned" or " " .. tostring(corral.is_cancelled(e))))
              if not ok then error(e, 0) end
            end })
          end
          corral.sleep(2)
          seen[1] = listing(sup)
          sup:stop()
        end)
        return seen
      end)
      assert.same({ "restart:running:1" }, seen)
      assert.same({ "remove start 0@0", "restart start 0@0", "remove true@1", "restart true@1.5",
        "restart start 1@1.5" }, log.items)
    end)
  end)

  describe("backoff", function()
    for _, strategy in ipairs({ "one_for_one", "one_for_all", "rest_for_one" }) do
      for _, hook in ipairs({ false, true }) do
        it("an outer cancel during a backoff wait ends it at once, in peace (" .. strategy
          .. (hook and ", with on_restart)" or ")"), function()
          local k, heard = kit(), {}
          local r, t = vrun(function()
            local r = table.pack(corral.move_on_after(3, supervisor.run, {
              strategy = strategy, backoff = { delay = 5 },
              on_restart = hook and function(name) heard[#heard + 1] = name end or nil,
              on_failure = function(name) heard[#heard + 1] = "failure " .. name end,
              children = { k.spec("a"), k.spec("b") },
            }, function()
              corral.sleep(1)
              k.tell("b", "die")
              corral.sleep(10)
            end))
            return r, corral.now()
          end)
          assert.same({ false, n = 1 }, r)
          assert.equal(3, t)
          assert.same(hook and { "b" } or {}, heard)
          local a_stops = strategy == "one_for_all" and "a stop@1" or nil
          assert.same({ "a start 0@0", "b start 0@0", "b die@1", a_stops }, k.log.items)
        end)
      end
    end

    it("a restart storm waits min(delay*factor^(k-1), max_delay) and gives up past the intensity", function()
      local starts = {}
      local eg = vrun(function()
        return support.error_group(supervisor.run, { intensity = 10, period = 100,
          backoff = { delay = 1, factor = 2, max_delay = 3 }, children = { { name = "w", fn = function()
            starts[#starts + 1] = corral.now()
            error("crash", 0)
          end } } })
      end)
      assert.same({ 0, 1, 3, 6, 9, 12, 15, 18, 21, 24, 27 }, starts)
      assert.equal("supervisor: restart intensity exceeded (11 restarts in 100 s)", eg.message)
      assert.equal(11, #eg.errors)
    end)

    it("a storm slower than period / intensity never fills the window", function()
      local starts = 0
      local ok = vrun(function()
        return corral.move_on_after(40, supervisor.run, { intensity = 2, period = 5,
          backoff = { delay = 3, factor = 1 }, children = { { name = "w", fn = function()
            starts = starts + 1
            error("crash", 0)
          end } } })
      end)
      assert.is_false(ok)
      assert.equal(14, starts)                  -- at 0, 3, 6, ..., 39
    end)

    it("a stop during a one_for_all backoff ends it without starting anyone", function()
      local k = kit()
      local seen = vrun(function()
        local seen = {}
        supervisor.run({ strategy = "one_for_all", backoff = { delay = 5 },
          children = { k.spec("a"), k.spec("b") } }, function(sup)
          corral.sleep(1)
          k.tell("b", "die")
          corral.sleep(1)
          seen[1] = listing(sup)
          sup:stop()
          seen[2] = support.time()
        end)
        return seen
      end)
      assert.same({ "a:restarting:1 b:restarting:1", "2" }, seen)
      assert.same({ "a start 0@0", "b start 0@0", "b die@1", "a stop@1" }, k.log.items)
    end)

    it("a body that fails during a backoff stops the children and raises its error", function()
      local k = kit()
      local eg = vrun(function()
        return support.error_group(supervisor.run, { backoff = { delay = 5 },
          children = { k.spec("a"), k.spec("b") } }, function()
          corral.sleep(1)
          k.tell("b", "die")
          corral.sleep(1)
          error("body broke", 0)
        end)
      end)
      assert.same({ "body broke" }, eg.errors)
      assert.same({ "a start 0@0", "b start 0@0", "b die@1", "a stop@2" }, k.log.items)
    end)
  end)

  describe("stopping", function()
    it("stops in start order reversed, however the children were restarted since", function()
      local k = kit()
      vrun(function()
        supervisor.run({ children = { k.spec("a"), k.spec("b"), k.spec("c") } }, function(sup)
          corral.sleep(1)
          k.tell("a", "die")                      -- a now started last
          sup:stop()
        end)
      end)
      assert.same({ "a start 0@0", "b start 0@0", "c start 0@0", "a die@1", "a start 1@1",
        "c stop@1", "b stop@1", "a stop@1" }, k.log.items)
    end)

    it("a second, shorter stop brings the end closer; both return together", function()
      local log = support.log()
      vrun(function()
        supervisor.run({}, function(sup)
          sup:add({ name = "a", shutdown = 5, fn = function(c)
            c:wait_stopping()
            log:stamp("a asked to stop")
            local ok = pcall(corral.sleep, 10)
            log:stamp(ok and "a woke" or "a cancelled")
          end })
          corral.group(function(g)
            g:spawn(function()
              sup:stop(4)
              log:stamp("stop(4) returned")
            end)
            g:spawn(function()
              corral.sleep(1)
              sup:stop(1)
              log:stamp("stop(1) returned")
            end)
          end)
        end)
      end)
      assert.same({ "a asked to stop@0", "a cancelled@2", "stop(1) returned@2", "stop(4) returned@2" },
        support.by_time(log.items))
    end)

    it("methods after the end say the supervisor has stopped; stop and children do nothing", function()
      local seen = vrun(function()
        local kept
        supervisor.run({}, function(sup) kept = sup end)
        kept:stop()
        return { listing(kept), raises(kept.add, kept, { name = "x", fn = print }),
          raises(kept.remove, kept, "x"), raises(kept.restart, kept, "x") }
      end)
      assert.same({ "", "supervisor:add: the supervisor has stopped",
        "supervisor:remove: the supervisor has stopped", "supervisor:restart: the supervisor has stopped" }, seen)
    end)
  end)
end)
