-- spec/errors_spec.lua: the error values (docs/api.md): Cancelled says why it
-- happened for each source, Timeout, and ErrorGroup (fields, split, flatten, nesting,
-- tostring, dropped), with every raw error value kept as it was raised.
local corral = require "corral"
local support = require "support"

local vrun = support.vrun
local SRC = debug.getinfo(1, "S").short_src

-- Spawn into g a child named `name` that sleeps until cancelled and stores the
-- Cancelled it got in seen[name].
local function watch(g, name, seen)
  return g:spawn({ function()
    local ok, e = pcall(corral.sleep, math.huge)
    seen[name] = e
    if not ok then error(e, 0) end
  end, name = name })
end

describe("Cancelled", function()
  it("is recognised by corral.is_cancelled, and nothing else is", function()
    local c
    vrun(function()
      corral.scope(function(s)
        s:cancel()
        local ok, e = pcall(corral.checkpoint)
        c = e
      end)
    end)
    assert.is_true(corral.is_cancelled(c))
    for _, other in ipairs({ "Cancelled", {}, 42, false }) do
      assert.is_false(corral.is_cancelled(other))
    end
    assert.is_false(corral.is_cancelled(nil))
    assert.is_false(corral.is_error_group(c))
    assert.is_false(corral.is_timeout(c))
  end)

  it("keeps its metatable: getmetatable answers it, setmetatable raises", function()
    local c
    vrun(function()
      corral.scope(function(s)
        s:cancel()
        c = support.raises(corral.checkpoint)
      end)
    end)
    local mt = getmetatable(c)
    assert.is_table(mt)
    assert.equal("corral.Cancelled", mt.__name)
    assert.has_error(function() setmetatable(c, nil) end,
                     "cannot change a protected metatable")
    assert.is_true(corral.is_cancelled(c))
  end)

  it("tostring starts with 'Cancelled' and carries the reason", function()
    local with, without
    vrun(function()
      corral.scope(function(s)
        s:cancel("user pressed stop")
        with = support.raises(corral.checkpoint)
      end)
      corral.scope(function(s)
        s:cancel()
        without = support.raises(corral.checkpoint)
      end)
    end)
    assert.equal(1, tostring(with):find("Cancelled", 1, true))
    support.assert_mentions(with, "user pressed stop")
    assert.equal("user pressed stop", with.reason)
    assert.equal(1, tostring(without):find("Cancelled", 1, true))
    assert.is_nil(without.reason)
  end)

  it("explicit g:cancel(reason): source 'explicit', the reason, and the canceller as origin", function()
    local seen = {}
    vrun(function()
      corral.group(function(g)
        watch(g, "worker", seen)
        g:spawn({ function() corral.sleep(1); g:cancel("bye") end, name = "boss" })
      end)
    end)
    local e = seen.worker
    assert.is_true(corral.is_cancelled(e))
    assert.equal("explicit", e.source)
    assert.equal("bye", e.reason)
    assert.equal("boss", e.origin)
  end)

  it("explicit t:cancel(reason): source 'explicit', the reason, and the canceller as origin", function()
    local seen = {}
    vrun(function()
      corral.group(function(g)
        local t = watch(g, "worker", seen)
        g:spawn({ function() corral.sleep(1); t:cancel("not you") end, name = "boss" })
      end)
    end)
    local e = seen.worker
    assert.equal("explicit", e.source)
    assert.equal("not you", e.reason)
    assert.equal("boss", e.origin)
  end)

  it("explicit s:cancel() without a reason: reason is nil", function()
    local seen = {}
    vrun(function()
      corral.group(function(g)
        local scope
        g:spawn({ function()
          corral.scope(function(s)
            scope = s
            local ok, e = pcall(corral.sleep, math.huge)
            seen.worker = e
            error(e, 0)
          end)
        end, name = "worker" })
        g:spawn({ function() corral.sleep(1); scope:cancel() end, name = "boss" })
      end)
    end)
    local e = seen.worker
    assert.equal("explicit", e.source)
    assert.is_nil(e.reason)
    assert.equal("boss", e.origin)
  end)

  it("deadline: source 'deadline'; origin is nil or the scope's name", function()
    local e
    vrun(function()
      corral.scope(function()
        local ok, err = pcall(corral.sleep, math.huge)
        e = err
        error(err, 0)
      end, { timeout = 1, name = "budget" })
    end)
    assert.is_true(corral.is_cancelled(e))
    assert.equal("deadline", e.source)
    assert.is_true(e.origin == nil or e.origin == "budget", "origin was " .. tostring(e.origin))
  end)

  it("sibling failure: source 'failure' and the failed task as origin, for the siblings and the body", function()
    local seen = {}
    support.error_group(vrun, function()
      corral.group(function(g)
        watch(g, "bystander", seen)
        g:spawn({ function() corral.sleep(1); error("broken", 0) end, name = "culprit" })
        local ok, e = pcall(corral.sleep, math.huge)
        seen.body = e
        error(e, 0)
      end)
    end)
    for _, who in ipairs({ "bystander", "body" }) do
      local e = seen[who]
      assert.is_true(corral.is_cancelled(e), who)
      assert.equal("failure", e.source, who)
      assert.equal("culprit", e.origin, who)
    end
  end)

  it("stop grace expiry: source 'stop' and the task that called stop as origin", function()
    local seen = {}
    vrun(function()
      corral.group(function(g)
        watch(g, "worker", seen)
        g:spawn({ function() corral.sleep(1); g:stop(2) end, name = "stopper" })
      end)
    end)
    local e = seen.worker
    assert.is_true(corral.is_cancelled(e))
    assert.equal("stop", e.source)
    assert.equal("stopper", e.origin)
  end)

  describe("from a signal (real clock, SIGINT sent to this very process)", function()
    local function self_pid()
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("n")
      f:close()
      return math.tointeger(pid)
    end

    -- Only SIGINT is sent in-process: were the handler missing, Lua's own SIGINT
    -- hook would fail this spec instead of killing the runner. SIGTERM is pinned in
    -- spec/cli_spec.lua, where the signal goes to a child process.
    it("run with signals = true cancels the root with source 'signal' and reason 'SIGINT'", function()
      local seen = {}
      local err = support.cancelled(corral.run, function()
        corral.group(function(g)
          watch(g, "sleeper", seen)
          g:spawn(function()
            -- io.popen, not os.execute: system() ignores SIGINT while it waits.
            io.popen("kill -INT " .. self_pid()):close()
            corral.sleep(math.huge)
          end)
        end)
      end, { signals = true })
      assert.equal("signal", err.source)
      assert.equal("SIGINT", err.reason)
      local e = seen.sleeper
      assert.is_true(corral.is_cancelled(e))
      assert.equal("signal", e.source)
      assert.equal("SIGINT", e.reason)
    end)
  end)

  pending("source 'host' (a cancel of the root from the C host API) is pinned by the C tests in spec/c/")
end)

describe("Timeout", function()
  local function timeout()
    local e
    vrun(function()
      local ok, err = pcall(corral.fail_after, 1, corral.sleep, 10)
      e = err
    end)
    return e
  end

  it("is recognised by corral.is_timeout and is neither a Cancelled nor an ErrorGroup", function()
    local e = timeout()
    assert.is_true(corral.is_timeout(e))
    assert.is_false(corral.is_cancelled(e))
    assert.is_false(corral.is_error_group(e))
    for _, other in ipairs({ "Timeout", {}, 1 }) do
      assert.is_false(corral.is_timeout(other))
    end
  end)

  it("raised in a child is a failure of its group, like any error", function()
    local log = support.log()
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn({ function() corral.fail_after(1, corral.sleep, 10) end, name = "slow" })
        g:spawn(function()
          local ok, e = pcall(corral.sleep, math.huge)
          log:stamp("sibling cancelled")
          error(e, 0)
        end)
      end)
    end)
    assert.equal(1, #eg)
    assert.is_true(corral.is_timeout(eg.errors[1]))
    assert.same({ "slow" }, eg.tasks)
    assert.same({ "sibling cancelled@1" }, log.items)
  end)
end)

describe("ErrorGroup", function()
  -- A deferring group whose children fail in turn: failures[i] = {name, err} fails at t = i.
  local function fail_in_turn(failures)
    return function()
      corral.group(function(g)
        for i, f in ipairs(failures) do
          g:spawn({ function() corral.sleep(i); error(f[2], 0) end, name = f[1] })
        end
      end, { defer_errors = true })
    end
  end

  it("holds errors (in order of failure), tasks, tracebacks; #e counts them; dropped is 0", function()
    local lines = {}
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn({ function()
          corral.sleep(2)
          lines.second = debug.getinfo(1, "l").currentline; error("second")
        end, name = "late" })
        g:spawn({ function()
          corral.sleep(1)
          lines.first = debug.getinfo(1, "l").currentline; error("first")
        end, name = "early" })
      end, { defer_errors = true })
    end)
    assert.is_true(corral.is_error_group(eg))
    assert.is_false(corral.is_cancelled(eg))
    assert.equal(2, #eg)
    assert.equal(#eg.errors, #eg)
    assert.same({
      SRC .. ":" .. lines.first .. ": first",
      SRC .. ":" .. lines.second .. ": second",
    }, eg.errors)
    assert.same({ "early", "late" }, eg.tasks)
    assert.equal(2, #eg.tracebacks)
    assert.is_truthy(eg.tracebacks[1]:find("errors_spec.lua:" .. lines.first, 1, true), eg.tracebacks[1])
    assert.is_truthy(eg.tracebacks[2]:find("errors_spec.lua:" .. lines.second, 1, true), eg.tracebacks[2])
    assert.equal(0, eg.dropped)
  end)

  it("keeps raw error values as they were raised: same tables, numbers as numbers", function()
    local t1, t2 = { code = 1 }, setmetatable({}, { __tostring = function() return "custom" end })
    local eg = support.error_group(vrun, fail_in_turn({ { "a", t1 }, { "b", 42 }, { "c", t2 } }))
    assert.equal(3, #eg)
    assert.is_true(rawequal(t1, eg.errors[1]))
    assert.equal(42, eg.errors[2])
    assert.equal("integer", math.type(eg.errors[2]))
    assert.is_true(rawequal(t2, eg.errors[3]))
  end)

  it("is raised by corral.run unchanged", function()
    local inside
    local outside = support.error_group(vrun, function()
      local ok, e = pcall(fail_in_turn({ { "a", "x" } }))
      inside = e
      error(e, 0)
    end)
    assert.is_true(rawequal(inside, outside))
  end)

  it("tostring names every task and every error", function()
    local eg = support.error_group(vrun, fail_in_turn({
      { "fetcher", "connection refused" }, { "parser", "unexpected token" },
    }))
    support.assert_mentions(eg, "fetcher", "connection refused", "parser", "unexpected token")
  end)

  describe("nesting", function()
    -- outer (deferring): "leaf" fails at 1 with NET1; "nest" fails at 3 with the
    -- ErrorGroup of its own deferring group: "inner-net" (NET2 at 2), "inner-other" ("other" at 3).
    local NET1, NET2 = { kind = "net", id = 1 }, { kind = "net", id = 2 }
    local function nested()
      return support.error_group(vrun, function()
        corral.group(function(g)
          g:spawn({ function() corral.sleep(1); error(NET1) end, name = "leaf" })
          g:spawn({ function()
            corral.group(function(inner)
              inner:spawn({ function() corral.sleep(2); error(NET2) end, name = "inner-net" })
              inner:spawn({ function() corral.sleep(3); error("other", 0) end, name = "inner-other" })
            end, { defer_errors = true })
          end, name = "nest" })
        end, { defer_errors = true })
      end)
    end
    local function is_net(e) return type(e) == "table" and e.kind == "net" end

    it("a child's ErrorGroup stays one nested entry", function()
      local eg = nested()
      assert.equal(2, #eg)
      assert.same({ "leaf", "nest" }, eg.tasks)
      assert.is_true(rawequal(NET1, eg.errors[1]))
      local inner = eg.errors[2]
      assert.is_true(corral.is_error_group(inner))
      assert.same({ "inner-net", "inner-other" }, inner.tasks)
      assert.is_true(rawequal(NET2, inner.errors[1]))
      assert.equal("other", inner.errors[2])
    end)

    it("flatten() returns the plain list of leaf errors, depth first", function()
      local leaves = nested():flatten()
      assert.equal(3, #leaves)
      assert.is_true(rawequal(NET1, leaves[1]))
      assert.is_true(rawequal(NET2, leaves[2]))
      assert.equal("other", leaves[3])
      assert.is_false(corral.is_error_group(leaves))
    end)

    it("tostring renders the whole tree: outer and inner task names and errors", function()
      support.assert_mentions(nested(), "leaf", "nest", "inner-net", "inner-other", "other")
    end)

    it("split(pred) sorts the leaves into matched and rest", function()
      local matched, rest = nested():split(is_net)
      assert.is_true(corral.is_error_group(matched))
      assert.is_true(corral.is_error_group(rest))
      local m, r = matched:flatten(), rest:flatten()
      assert.equal(2, #m)
      assert.is_true(rawequal(NET1, m[1]))
      assert.is_true(rawequal(NET2, m[2]))
      assert.same({ "other" }, r)
    end)

    it("split keeps the nesting and the task names", function()
      local matched, rest = nested():split(is_net)
      assert.same({ "leaf", "nest" }, matched.tasks)
      assert.same({ "inner-net" }, matched.errors[2].tasks)
      assert.same({ "nest" }, rest.tasks)
      assert.is_true(corral.is_error_group(rest.errors[1]))
      assert.same({ "inner-other" }, rest.errors[1].tasks)
    end)
  end)

  describe("split", function()
    local A, C = { kind = "net" }, { kind = "net" }
    local function flat()
      return support.error_group(vrun, fail_in_turn({ { "a", A }, { "b", "plain" }, { "c", C } }))
    end

    it("returns matched and rest as ErrorGroups, keeping order and task names", function()
      local matched, rest = flat():split(function(e) return type(e) == "table" end)
      assert.equal(2, #matched)
      assert.is_true(rawequal(A, matched.errors[1]))
      assert.is_true(rawequal(C, matched.errors[2]))
      assert.same({ "a", "c" }, matched.tasks)
      assert.equal(1, #rest)
      assert.same({ "plain" }, rest.errors)
      assert.same({ "b" }, rest.tasks)
    end)

    it("returns nil for matched when nothing matches, and nil for rest when everything does", function()
      local eg = flat()
      local none, all_rest = eg:split(function() return false end)
      assert.is_nil(none)
      assert.equal(3, #all_rest)
      local all, no_rest = eg:split(function() return true end)
      assert.equal(3, #all)
      assert.is_nil(no_rest)
    end)
  end)

  it("is not confused with other values", function()
    for _, other in ipairs({ "ErrorGroup", { errors = {} }, 0 }) do
      assert.is_false(corral.is_error_group(other))
    end
    assert.is_false(corral.is_error_group(nil))
  end)
end)
