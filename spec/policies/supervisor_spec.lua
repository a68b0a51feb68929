-- spec/policies/supervisor_spec.lua: corral.supervisor (docs/policies.md) under the
-- virtual clock: strategies, restart types, intensity and period, backoff, shutdown
-- graces, dynamic children, and cancellation, with the exact times of each event.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local testing = require "corral.testing"

local vrun = support.vrun

-- Children that log what happens to them: "<name> start", then
local function polite(log, name)        -- "<name> stop" as soon as it is asked to stop
  return function(child)
    log:stamp(name .. " start")
    child:wait_stopping()
    log:stamp(name .. " stop")
  end
end

local function stubborn(log, name)      -- ignores stop; "<name> cancelled" at the grace
  return function()
    log:stamp(name .. " start")
    local _, e = pcall(corral.sleep, math.huge)
    log:stamp(name .. " cancelled")
    error(e, 0)
  end
end

local function crasher(log, name, after)  -- fails `after` s into every run
  return function(child)
    log:stamp(name .. " start")
    corral.sleep(after)
    error(name .. " crash " .. child.restarts, 0)
  end
end

-- Only the entries of log that begin with `prefix`.
local function only(log, prefix)
  local out = {}
  for _, item in ipairs(log.items) do
    if item:sub(1, #prefix) == prefix then out[#out + 1] = item end
  end
  return out
end

describe("supervisor.run", function()
  describe("one_for_one", function()
    it("restarts only the failed child, at once, and counts its restarts", function()
      local log, restarts = support.log(), {}
      vrun(function()
        supervisor.run({
          intensity = 10,
          on_restart = function(name, err, count) restarts[#restarts + 1] = { name, err, count, corral.now() } end,
          children = { { name = "w", fn = crasher(log, "w", 1) }, { name = "s", fn = polite(log, "s") } },
        }, function(sup)
          corral.sleep(3.5)
          sup:stop()
        end)
      end)
      assert.same({ "w start@0", "w start@1", "w start@2", "w start@3" }, only(log, "w"))
      assert.same({ "s start@0", "s stop@3.5" }, only(log, "s"))
      assert.same({ { "w", "w crash 0", 1, 1 }, { "w", "w crash 1", 2, 2 }, { "w", "w crash 2", 3, 3 } },
        restarts)
    end)
  end)

  describe("restart intensity", function()
    it("gives up after more than intensity restarts within period", function()
      local log = support.log()
      local eg, t = vrun(function()
        local eg = support.error_group(supervisor.run, {
          intensity = 2, period = 5,
          children = {
            { name = "a", fn = polite(log, "a") },
            { name = "w", fn = crasher(log, "w", 1) },
            { name = "b", fn = polite(log, "b") },
          },
        }, function() corral.sleep(math.huge) end)
        return eg, corral.now()
      end)
      assert.equal(3, t)
      assert.equal("supervisor: restart intensity exceeded (3 restarts in 5 s)", eg.message)
      assert.same({ "w crash 0", "w crash 1", "w crash 2" }, eg.errors)
      assert.same({ "w", "w", "w" }, eg.tasks)
      assert.truthy(eg.tracebacks[1]:find("stack traceback", 1, true))
      assert.same({ "b stop@3", "a stop@3" }, { only(log, "b")[2], only(log, "a")[2] })
      assert.equal("b stop@3", log.items[#log.items - 1])   -- reverse start order
      assert.equal("a stop@3", log.items[#log.items])
    end)

    it("gives up at the first failure with intensity 0", function()
      local eg = vrun(function()
        return support.error_group(supervisor.run, {
          intensity = 0, children = { { name = "w", fn = crasher(support.log(), "w", 2) } },
        })
      end)
      assert.equal("supervisor: restart intensity exceeded (1 restart in 5 s)", eg.message)
      assert.same({ "w crash 0" }, eg.errors)
    end)

    -- A child failing at the given times (one per run).
    local function fails_at(times)
      return function(child)
        corral.sleep_until(times[child.restarts + 1] or math.huge)
        error("fail at " .. corral.now(), 0)
      end
    end

    it("still counts a restart exactly period seconds ago", function()
      local eg, t = vrun(function()
        local eg = support.error_group(supervisor.run, {
          intensity = 1, period = 2, children = { { name = "w", fn = fails_at({ 1, 3 }) } },
        })
        return eg, corral.now()
      end)
      assert.equal(3, t)
      assert.same({ "fail at 1.0", "fail at 3.0" }, eg.errors)
    end)

    it("forgets restarts more than period seconds ago", function()
      local restarts, t = 0, nil
      vrun(function()
        supervisor.run({
          intensity = 1, period = 2,
          on_restart = function() restarts = restarts + 1 end,
          children = { { name = "w", fn = fails_at({ 1, 3.5, 6, 8.5 }), shutdown = 0 } },
        }, function(sup)
          corral.sleep(10)
          sup:stop()
        end)
        t = corral.now()
      end)
      assert.equal(4, restarts)
      assert.equal(10, t)
    end)

    it("counts the restart of a permanent child that returned", function()
      local eg = vrun(function()
        return support.error_group(supervisor.run, {
          intensity = 2, children = { { name = "p", fn = function() corral.sleep(1) end } },
        })
      end)
      assert.equal(3, #eg)
      support.assert_mentions(eg.errors[1], "child 'p' returned")
    end)

    it("does not count manual restarts", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ intensity = 0, children = { { name = "x", fn = polite(log, "x") } } }, function(sup)
          for _ = 1, 3 do
            corral.sleep(1)
            sup:restart("x")
          end
          assert.equal(3, sup:children()[1].restarts)
          sup:stop()
        end)
      end)
      assert.same({ "x start@0", "x stop@1", "x start@1", "x stop@2", "x start@2", "x stop@3", "x start@3",
        "x stop@3" }, log.items)
    end)
  end)

  describe("restart types", function()
    it("restarts a permanent child that returned", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ intensity = 10, children = { { name = "p", fn = function()
          log:stamp("p start")
          corral.sleep(1)
        end } } }, function(sup)
          corral.sleep(2.5)
          sup:stop()
        end)
      end)
      assert.same({ "p start@0", "p start@1", "p start@2" }, log.items)
    end)

    it("restarts a transient child only after a failure, and forgets it when it returns", function()
      local log = support.log()
      local left, t
      vrun(function()
        supervisor.run({ children = { { name = "t", restart = "transient", fn = function(child)
          log:stamp("t start")
          corral.sleep(1)
          if child.restarts == 0 then error("first run fails", 0) end
        end } } }, function(sup)
          corral.sleep(1.5)
          left = #sup:children()
        end)
        t = corral.now()
      end)
      assert.same({ "t start@0", "t start@1" }, log.items)
      assert.equal(1, left)
      assert.equal(2, t)                  -- no body left and no child left to run
    end)

    it("never restarts a temporary child and hands its failure to on_failure", function()
      local failures, log = {}, support.log()
      local r = vrun(function()
        return supervisor.run({
          on_failure = function(name, err) failures[#failures + 1] = { name, err, corral.now() } end,
          children = { { name = "t", restart = "temporary", fn = crasher(log, "t", 1) } },
        }, function() return "body result" end)
      end)
      assert.equal("body result", r)
      assert.same({ { "t", "t crash 0", 1 } }, failures)
      assert.same({ "t start@0" }, log.items)
    end)

    it("writes a temporary child's failure to stderr without on_failure", function()
      local written = {}
      local stderr = io.stderr
      io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do written[#written + 1] = s end end }
      local ok, err = pcall(vrun, function()
        supervisor.run({ children = { { name = "t", restart = "temporary", fn = crasher(support.log(), "t", 0) } } })
      end)
      io.stderr = stderr
      assert(ok, err)
      support.assert_mentions(table.concat(written), "child 't' failed: t crash 0")
    end)
  end)

  describe("one_for_all", function()
    it("stops the others in reverse order, one at a time, then restarts all in order", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ strategy = "one_for_all", children = {
          { name = "a", fn = stubborn(log, "a"), shutdown = 1 },
          { name = "b", fn = crasher(log, "b", 1) },
          { name = "c", fn = stubborn(log, "c"), shutdown = 2 },
          { name = "t", fn = polite(log, "t"), restart = "temporary" },
        } }, function(sup)
          corral.sleep(4.5)
          assert.same({ "a", "b", "c" }, { sup:children()[1].name, sup:children()[2].name, sup:children()[3].name })
          assert.same({ 1, 1, 1 }, { sup:children()[1].restarts, sup:children()[2].restarts, sup:children()[3].restarts })
          sup:stop(0)
        end)
      end)
      assert.same({
        "a start@0", "b start@0", "c start@0", "t start@0",
        "t stop@1", "c cancelled@3", "a cancelled@4",
        "a start@4", "b start@4", "c start@4",
        "c cancelled@4.5", "a cancelled@4.5",
      }, log.items)
    end)
  end)

  describe("rest_for_one", function()
    it("restarts the failed child and those started after it", function()
      local log, failures = support.log(), {}
      vrun(function()
        supervisor.run({ strategy = "rest_for_one",
          on_failure = function(name, err) failures[#failures + 1] = { name, err, corral.now() } end,
          children = {
          { name = "a", fn = polite(log, "a") },
          { name = "b", fn = crasher(log, "b", 1) },
          { name = "c", fn = polite(log, "c") },
        } }, function(sup)
          corral.sleep(1.5)
          sup:stop()
        end)
      end)
      -- b ignores the stop at 1.5 and fails at 2 while winding down: reported, not restarted
      assert.same({ "a start@0", "b start@0", "c start@0", "c stop@1", "b start@1", "c start@1",
        "c stop@1.5", "a stop@2" }, log.items)
      assert.same({ { "b", "b crash 1", 2 } }, failures)
    end)
  end)

  describe("start order", function()
    -- OTP starts children one at a time, each start done before the next begins.
    -- Here a child has started once its fn was called: it runs up to its first
    -- yield before the next child's fn is called, whatever the schedule.
    it("starts children one at a time, in order, before the body, under every schedule", function()
      testing.each_seed(50, function()
        local log, failures = support.log(), {}
        supervisor.run({
          strategy = "one_for_all", intensity = 10, backoff = { delay = 1 },
          on_failure = function(name, err) failures[#failures + 1] = { name, err, corral.now() } end,
          children = {
            { name = "a", fn = polite(log, "a") },
            { name = "b", fn = crasher(log, "b", 2) },
            { name = "c", fn = polite(log, "c") },
          },
        }, function(sup)
          log:stamp("body")
          sup:add({ name = "d", fn = polite(log, "d") })
          log:stamp("added")
          corral.sleep(3.5)                 -- b fails at 2: all restart at 3 (backoff 1)
          sup:restart("c")
          log:stamp("restarted")
          sup:stop()                        -- b ignores it and fails at 5
          log:stamp("stopped")
        end)
        assert.same({
          "a start@0", "b start@0", "c start@0", "body@0", "d start@0", "added@0",
          "d stop@2", "c stop@2", "a stop@2",
          "a start@3", "b start@3", "c start@3", "d start@3",
          "c stop@3.5", "c start@3.5", "restarted@3.5",
          "d stop@3.5", "c stop@3.5", "a stop@5", "stopped@5",
        }, log.items)
        assert.same({ { "b", "b crash 1", 5 } }, failures)
      end)
    end)

    it("keeps the order when a child waiting to start is removed, under every schedule", function()
      testing.each_seed(50, function()
        local log = support.log()
        supervisor.run({
          strategy = "one_for_all", backoff = { delay = 1 },
          children = {
            { name = "a", fn = polite(log, "a") },
            { name = "b", fn = crasher(log, "b", 1) },
            { name = "c", fn = polite(log, "c") },
            { name = "d", fn = polite(log, "d") },
          },
        }, function(sup)
          corral.sleep(1.5)                 -- b failed at 1: all restart at 2
          sup:remove("c")
          log:stamp("removed")
          corral.sleep(0.75)
          sup:stop(0)
        end)
        assert.same({
          "a start@0", "b start@0", "c start@0", "d start@0",
          "d stop@1", "c stop@1", "a stop@1", "removed@1.5",
          "a start@2", "b start@2", "d start@2",
          "d stop@2.25", "a stop@2.25",
        }, log.items)
      end)
    end)
    it("does not hold the body for a temporary child forgotten before it began", function()
      testing.each_seed(50, function()
        local log = support.log()
        supervisor.run({
          strategy = "one_for_all", on_failure = function() end,
          children = {
            { name = "a", fn = function(child)
              log:stamp("a start")
              if child.restarts == 0 then error("init failed", 0) end
              child:wait_stopping()
            end },
            { name = "b", fn = polite(log, "b") },
            { name = "t", restart = "temporary", fn = polite(log, "t") },
          },
        }, function(sup)
          log:stamp("body")
          local started = {}
          for _, item in ipairs(log.items) do
            local name = item:match("^(%a) start")
            if name then started[name] = true end
          end
          for _, c in ipairs(sup:children()) do
            assert.truthy(started[c.name], c.name .. " had not started")
          end
          sup:stop()
        end)
      end)
    end)

    it("starts a child restarted by hand before it takes another child's exit", function()
      local starts, ok, err = 0, nil, nil
      vrun(function()
        supervisor.run({
          strategy = "one_for_all", on_failure = function() end,
          children = {
            { name = "x", restart = "temporary", shutdown = 1,
              fn = function() starts = starts + 1; corral.sleep(100) end },
            { name = "a", fn = function(child)
              if child.restarts == 0 then corral.sleep(0.5); error("a fails", 0) end
              child:wait_stopping()
            end },
          },
        }, function(sup)
          -- x winds down for 1 s; a fails meanwhile. As in OTP, where a
          -- restart_child is done before the next exit is taken, the new x
          -- begins first; a's one_for_all restart then stops it and, x
          -- being temporary, forgets it
          ok, err = pcall(sup.restart, sup, "x")
          corral.sleep(3)
          for _, c in ipairs(sup:children()) do
            assert.are_not.equal("x", c.name)
          end
          sup:stop()
        end)
      end)
      assert.is_true(ok, tostring(err))
      assert.equal(2, starts)
    end)

    it("gives a child restarted by hand during a backoff the turn it had", function()
      local log = support.log()
      vrun(function()
        supervisor.run({
          strategy = "rest_for_one", backoff = { delay = 1 },
          children = {
            { name = "a", fn = crasher(log, "a", 1) },
            { name = "b", fn = polite(log, "b") },
            { name = "c", fn = polite(log, "c") },
          },
        }, function(sup)
          corral.sleep(1.5)                 -- a failed at 1: a, b, c restart at 2
          sup:restart("b")                  -- b waits for a, as it did
          corral.sleep(0.5)
          sup:stop(0)
        end)
      end)
      assert.same({
        "a start@0", "b start@0", "c start@0", "c stop@1", "b stop@1",
        "a start@2", "b start@2", "c start@2", "c stop@2.5", "b stop@2.5",
      }, log.items)
    end)

    it("keeps start order through removes and adds", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ strategy = "rest_for_one" }, function(sup)
          for _, n in ipairs({ "p", "q", "r", "s" }) do sup:add({ name = n, fn = polite(log, n) }) end
          sup:remove("p")
          sup:remove("r")
          sup:add({ name = "p", fn = polite(log, "p") })
          local names = {}
          for i, c in ipairs(sup:children()) do names[i] = c.name end
          assert.same({ "q", "s", "p" }, names)
          sup:stop()
        end)
      end)
      assert.same({ "p start@0", "q start@0", "r start@0", "s start@0", "p stop@0", "r stop@0",
        "p start@0", "p stop@0", "s stop@0", "q stop@0" }, log.items)
    end)
  end)

  describe("backoff", function()
    it("waits min(delay * factor^(k-1), max_delay) before the k-th restart in the window", function()
      local log = support.log()
      local statuses = {}
      vrun(function()
        supervisor.run({
          intensity = 10, period = 100, backoff = { delay = 1, factor = 2, max_delay = 3 },
          children = { { name = "w", fn = crasher(log, "w", 0) } },
        }, function(sup)
          corral.sleep(0.5)
          statuses[1] = sup:children()[1].status
          corral.sleep(6)
          sup:stop()
        end)
      end)
      assert.same({ "w start@0", "w start@1", "w start@3", "w start@6" }, log.items)
      assert.same({ "restarting" }, statuses)
    end)
  end)

  describe("shutdown", function()
    it("cancels a child that ignores stop after exactly its shutdown grace", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ children = {
          { name = "s", fn = stubborn(log, "s"), shutdown = 2.5 },
          { name = "p", fn = polite(log, "p") },
        } }, function(sup)
          corral.sleep(1)
          sup:stop()
          log:stamp("stopped")
        end)
      end)
      assert.same({ "s start@0", "p start@0", "p stop@1", "s cancelled@3.5", "stopped@3.5" }, log.items)
    end)

    it("caps each child's shutdown with the grace given to stop", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ children = {
          { name = "a", fn = stubborn(log, "a"), shutdown = 10 },
          { name = "b", fn = stubborn(log, "b"), shutdown = 0.5 },
        } }, function(sup) sup:stop(2) end)
      end)
      assert.same({ "a start@0", "b start@0", "b cancelled@0.5", "a cancelled@2.5" }, log.items)
    end)

    it("hands a failure during shutdown to on_failure", function()
      local failures = {}
      vrun(function()
        supervisor.run({
          on_failure = function(name, err) failures[#failures + 1] = name .. ": " .. err end,
          children = { { name = "f", fn = function(child)
            child:wait_stopping()
            error("flush failed", 0)
          end } },
        }, function(sup) sup:stop() end)
      end)
      assert.same({ "f: flush failed" }, failures)
    end)
  end)

  describe("from the body", function()
    it("adds, lists, restarts and removes children", function()
      local log = support.log()
      vrun(function()
        supervisor.run({ children = { { name = "a", fn = polite(log, "a") } } }, function(sup)
          sup:add({ name = "x", fn = polite(log, "x"), shutdown = 1 })
          corral.sleep(1)
          assert.same({ { name = "a", status = "running", restarts = 0 },
            { name = "x", status = "running", restarts = 0 } }, sup:children())
          sup:restart("x")
          log:stamp("restart returned")
          corral.sleep(1)
          sup:remove("a")
          log:stamp("remove returned")
          assert.same({ { name = "x", status = "running", restarts = 1 } }, sup:children())
          local err = support.raises(sup.remove, sup, "a")
          support.assert_mentions(err, "remove: no child named 'a'")
          err = support.raises(sup.add, sup, { name = "x", fn = print })
          support.assert_mentions(err, "add: a child named 'x' already exists")
          sup:stop()
          log:stamp("stop returned")
        end)
      end)
      assert.same({ "a start@0", "x start@0", "x stop@1", "x start@1", "restart returned@1",
        "a stop@2", "remove returned@2", "x stop@2", "stop returned@2" }, log.items)
    end)

    it("returns the body's results once the children are stopped", function()
      local a, b = vrun(function()
        return supervisor.run({ children = { { name = "p", fn = polite(support.log(), "p") } } }, function(sup)
          sup:stop()
          return 1, 2
        end)
      end)
      assert.same({ 1, 2 }, { a, b })
    end)

    it("stops the children gracefully, then raises the body's error in an ErrorGroup", function()
      local log = support.log()
      local oops = {}
      local eg = vrun(function()
        return support.error_group(supervisor.run, { children = {
          { name = "a", fn = polite(log, "a") }, { name = "b", fn = polite(log, "b") },
        } }, function()
          corral.sleep(1)
          error(oops, 0)
        end)
      end)
      assert.equal(oops, eg.errors[1])
      assert.same({ "a start@0", "b start@0", "b stop@1", "a stop@1" }, log.items)
    end)

    it("raises once the supervisor has stopped", function()
      vrun(function()
        supervisor.run({}, function(sup)
          sup:stop()
          sup:stop()                            -- harmless
          support.assert_mentions(support.raises(sup.add, sup, { name = "y", fn = print }),
            "add: the supervisor has stopped")
        end)
      end)
    end)
  end)

  it("returns at once without a body or children", function()
    assert.equal(0, vrun(function() supervisor.run({}); return corral.now() end))
  end)

  it("lets an outer cancellation through to every child", function()
    local log = support.log()
    local r, t = vrun(function()
      local r = corral.move_on_after(2, supervisor.run, { children = {
        { name = "a", fn = stubborn(log, "a") }, { name = "b", fn = crasher(log, "b", 5) },
      } })
      return r, corral.now()
    end)
    assert.is_false(r)
    assert.equal(2, t)
    assert.same({ "a cancelled@2", "a start@0", "b start@0" }, log:sorted())
  end)

  it("gives each child its name and restart count", function()
    local seen = {}
    vrun(function()
      supervisor.run({ intensity = 5, children = { { name = "n", fn = function(child)
        seen[#seen + 1] = child.name .. "/" .. child.restarts
        if child.restarts < 2 then error("again") end
      end, restart = "transient" } } })
    end)
    assert.same({ "n/0", "n/1", "n/2" }, seen)
  end)

  -- What broke: the keys of the children list were checked raw (a proxy
  -- list looked empty) but then read through __index, so a child that was
  -- not there started, and one whose __index raised made run raise that.
  it("reads its children raw, as it checks them", function()
    local proxy = function(t) return setmetatable({}, { __index = t }) end
    local started = {}
    vrun(function()
      supervisor.run({ children = proxy({ { name = "a", restart = "temporary",
        fn = function() started[#started + 1] = "a" end } }) })
      supervisor.run({ children = setmetatable({}, { __index = function() error("read", 0) end }) })
      local ok, err = pcall(supervisor.run, { children = { setmetatable({ name = "b", fn = function()
        started[#started + 1] = "b"
        corral.sleep(1)
        error("again")
      end }, { __index = { restart = "temporary" } }) } })
      assert.is_false(ok)                  -- b is permanent: restarted until it gives up
      assert.matches("restart intensity exceeded", tostring(err))
    end)
    assert.same({ "b", "b", "b", "b" }, started)
    -- and looks for a hole raw: an __index that never gives nil hung it
    local c = { name = "c", fn = print }
    vrun(function()
      support.assert_arg_error(1, "supervisor.run", "without holes, got children[3] but no children[2]",
        function()
          supervisor.run({ children = setmetatable({ c, nil, { name = "d", fn = print } },
            { __index = function() return c end }) })
        end)
    end)
  end)

  it("rejects bad specs and unknown options", function()
    vrun(function()
      local run = supervisor.run
      support.assert_arg_error(1, "supervisor.run", "unknown option 'stratgy'",
        function() run({ stratgy = "one_for_all" }) end)
      support.assert_arg_error(1, "supervisor.run", 'strategy must be "one_for_one", "one_for_all" or "rest_for_one"',
        function() run({ strategy = "all" }) end)
      support.assert_arg_error(1, "supervisor.run", "unknown option 'children[1].nmae'",
        function() run({ children = { { nmae = "x", fn = print } } }) end)
      support.assert_arg_error(1, "supervisor.run", "children[1].fn must be a function",
        function() run({ children = { { name = "x" } } }) end)
      support.assert_arg_error(1, "supervisor.run", "children[2].name 'x' is used twice",
        function() run({ children = { { name = "x", fn = print }, { name = "x", fn = print } } }) end)
      support.assert_arg_error(1, "supervisor.run", "unknown option 'backoff.dealy'",
        function() run({ backoff = { dealy = 1 } }) end)
      support.assert_arg_error(1, "supervisor.run", "intensity must be an integer >= 0",
        function() run({ intensity = -1 }) end)
      support.assert_arg_error(2, "supervisor.run", "function expected", function() run({}, 5) end)
      supervisor.run({}, function(sup)
        support.assert_arg_error(1, "add", "unknown option 'child.restrat'",
          function() sup:add({ name = "y", fn = print, restrat = "temporary" }) end)
        support.assert_arg_error(1, "remove", "string expected", function() sup:remove(1) end)
        support.assert_arg_error(1, "stop", "grace must be a number >= 0", function() sup:stop(-1) end)
      end)
    end)
  end)
end)
