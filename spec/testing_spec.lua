-- spec/testing_spec.lua: corral.testing (docs/testing.md) and the run options behind it,
-- seed and autojump_threshold.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local SRC = debug.getinfo(1, "S").short_src

-- Spawn n tasks that each log their number when they first run; returns the log.
local function start_order(n, seed)
  local log = {}
  corral.run(function()
    corral.group(function(g)
      for i = 1, n do g:spawn(function() log[#log + 1] = i end) end
    end)
  end, { clock = "virtual", seed = seed })
  return table.concat(log, " ")
end

local function is_failure(e)
  local mt = type(e) == "table" and getmetatable(e)
  return type(mt) == "table" and mt.__type == "failure"
end

describe("testing.run", function()
  it("runs fn on the virtual clock and returns its results", function()
    local r = table.pack(testing.run(function()
      corral.sleep(3600)
      return corral.now(), nil, "x"
    end))
    assert.same({ n = 3, 3600, nil, "x" }, r)
  end)

  it("raises fn's own error unchanged", function()
    local thrown = { code = 7 }
    assert.is_true(rawequal(thrown, support.raises(testing.run, function() error(thrown) end)))
    local line
    local err = support.raises(testing.run, function()
      line = debug.getinfo(1, "l").currentline; error("boom")
    end)
    assert.equal(SRC .. ":" .. line .. ": boom", err)
  end)

  it("passes options on to corral.run", function()
    local order = {}
    for _, seed in ipairs({ 1, 2, 3 }) do
      testing.run(function()
        corral.group(function(g)
          for i = 1, 5 do g:spawn(function() order[#order + 1] = i end) end
        end)
      end, { seed = seed })
      order[#order + 1] = "|"
    end
    local again = {}
    for _, seed in ipairs({ 1, 2, 3 }) do
      testing.run(function()
        corral.group(function(g)
          for i = 1, 5 do g:spawn(function() again[#again + 1] = i end) end
        end)
      end, { seed = seed })
      again[#again + 1] = "|"
    end
    assert.same(order, again)
    assert.are_not.equal("1 2 3 4 5 | 1 2 3 4 5 | 1 2 3 4 5 |", table.concat(order, " "))
  end)

  it("raises 'leaked' naming a stream_pair stream left open, and where fn was written", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local err = support.raises(testing.run, function()
      local a, b = testing.stream_pair()
      a:close()
      return b
    end)
    assert.equal(SRC .. ":" .. line .. ": testing.run: leaked 1 stream (from testing.stream_pair, not closed)", err)
  end)

  it("raises 'leaked' naming a handle left open (a TCP listener)", function()
    local err = support.raises(testing.run, function()
      return corral.tcp.listen("127.0.0.1", 0)     -- kept alive, not closed
    end)
    support.assert_mentions(err, "testing.run: leaked 1 handle (1 listener left open)")
  end)

  it("does not count what fn closed, even when libuv closes it later", function()
    assert.equal("done", testing.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      l:close()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      return "done"
    end))
  end)

  it("does not count a signal's watcher, which stays until the run ends", function()
    assert.is_false(testing.run(function() return corral.move_on_after(1, corral.signal, "SIGUSR2") end))
  end)

  it("raises the root's Cancelled, as corral.run does", function()
    local err = support.cancelled(testing.run, function()
      corral.current_task():cancel("bye")
      corral.checkpoint()
    end)
    assert.equal("bye", err.reason)
  end)

  it("rejects bad arguments", function()
    support.assert_arg_error(1, "run", "function expected", function() testing.run(42) end)
    support.assert_arg_error(2, "run", "table expected", function() testing.run(print, 1) end)
    support.assert_arg_error(1, "async", "function expected", function() testing.async() end)
  end)
end)

describe("an assertion that fails inside a child task", function()
  it("reaches busted as that assertion's failure, with its own file and line", function()
    local line
    local err = support.raises(testing.run, function()
      corral.group(function(g)
        g:spawn({ function()
          corral.sleep(1)
          line = debug.getinfo(1, "l").currentline; assert.equal(42, 6 * 9)
        end, name = "asker" })
        g:spawn(corral.sleep, 5)
      end)
    end)
    assert.is_true(is_failure(err))
    local first = err.message:match("^[^\n]*")
    assert.equal(SRC .. ":" .. line .. ": Expected objects to be equal.", first)
    support.assert_mentions(err.message, "(number) 54", "(failed in task asker)")
    assert.not_matches("ErrorGroup", tostring(err), 1, true)
  end)

  -- pcall(assert.equal, ...) gives a failure whose message has no position
  -- (luassert finds no Lua caller): raised again from a task, it was
  -- reported at the kit's own line that raised it again
  it("raised again without a position, is reported at the line that raised it", function()
    local child_line, root_line
    local err = support.raises(testing.run, function()
      corral.group(function(g)
        g:spawn({ function()
          local _, e = pcall(assert.equal, 1, 2)
          child_line = debug.getinfo(1, "l").currentline; error(e, 0)
        end, name = "again" })
      end)
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. child_line .. ": Expected objects to be equal.", err.message:match("^[^\n]*"))
    err = support.raises(testing.run, function()
      local _, e = pcall(assert.equal, 1, 2)
      root_line = debug.getinfo(1, "l").currentline; error(e, 0)
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. root_line .. ": Expected objects to be equal.", err.message:match("^[^\n]*"))
    -- raised again by a policy (retry gives up with its last error): the
    -- program's line that called it, not the policy's
    err = support.raises(testing.run, function()
      root_line = debug.getinfo(1, "l").currentline; require("corral.retry")(function()
        local _, e = pcall(assert.equal, 1, 2); error(e, 0)
      end, { attempts = 1 })
    end)
    assert.equal(SRC .. ":" .. root_line .. ": Expected objects to be equal.", err.message:match("^[^\n]*"))
  end)

  it("keeps the group's own message, which says why it ended (a supervisor gave up)", function()
    local err = support.raises(testing.run, function()
      require("corral.supervisor").run({ intensity = 1, children = { { name = "w", fn = function()
        corral.sleep(1); assert.equal("ok", "ko") end } } })
    end)
    assert.is_true(is_failure(err))
    support.assert_mentions(err.message, "Expected objects to be equal", "(failed in task w)",
      "supervisor: restart intensity exceeded")
    err = support.raises(testing.run, function()       -- the supervisor in a group
      corral.group(function(g)
        g:spawn(require("corral.supervisor").run, { intensity = 1, children = { { name = "w",
          fn = function() corral.sleep(1); assert.equal("ok", "ko") end } } })
      end)
    end)
    support.assert_mentions(err.message, "(failed in task w)", "supervisor: restart intensity exceeded")
  end)

  it("lists every other failure of the group in the message", function()
    local err = support.raises(testing.run, function()
      corral.group(function(g)
        g:spawn({ function() corral.sleep(1); error("disk full", 0) end, name = "writer" })
        g:spawn({ function() corral.sleep(2); assert.is_true(false, "checked") end, name = "checker" })
        g:spawn({ function() corral.sleep(3); error({ code = 5 }) end, name = "other" })
      end, { defer_errors = true })
    end)
    assert.is_true(is_failure(err))
    support.assert_mentions(err.message, "checked", "(failed in task checker)",
      "The group failed 3 times", "[writer] disk full",
      "[other] {\n      code = 5\n    }\n    stack traceback:")
  end)

  it("finds the failure in nested groups", function()
    local err = support.raises(testing.run, function()
      corral.group(function(g)
        g:spawn(function()
          corral.group(function(inner)
            inner:spawn({ function() assert.same({ 1 }, { 2 }) end, name = "deep" })
          end)
        end)
      end)
    end)
    assert.is_true(is_failure(err))
    support.assert_mentions(err.message, "Expected objects to be the same", "(failed in task deep)")
  end)

  it("leaves an ErrorGroup of plain errors as it is", function()
    local eg = support.error_group(testing.run, function()
      corral.group(function(g) g:spawn(error, "plain", 0) end)
    end)
    assert.same({ "plain" }, eg.errors)
  end)

  it("is reported by busted itself with the assertion's file:line (end to end)", function()
    local fixture = "spec/fixtures/child_failure.lua"
    -- under lua5.4 whatever `lua` is on this machine (Debian's luarocks
    -- makes it lua5.1, and busted's script runs on `lua`)
    local p = assert(io.popen('lua5.4 "$(command -v busted)" -o plainTerminal --pattern=. ' ..
      fixture .. " 2>&1"))
    local out = p:read("a")
    p:close()
    assert.matches("0 successes / 2 failures / 1 error", out, 1, true)
    assert.matches("Failure -> " .. fixture .. " @ 8\n" .. "reporting a child task fails an assertion\n" ..
      fixture .. ":12: Expected objects to be equal.", out, 1, true)
    assert.matches("(failed in task checker)", out, 1, true)
    assert.matches(fixture .. ":20: checked\n", out, 1, true)
    assert.matches("  [writer] " .. fixture .. ":19: disk full", out, 1, true)
    assert.matches("Error -> " .. fixture .. " @ 24", out, 1, true)
    assert.matches(fixture .. ":24: testing.run: leaked 1 stream", out, 1, true)
    assert.not_matches("ErrorGroup", out, 1, true)
  end)
end)

describe("testing.async", function()
  local ran = false
  it("wraps a spec body", testing.async(function()
    corral.sleep(10)
    ran = corral.now() == 10
  end))
  it("(the body above ran on the virtual clock)", function() assert.is_true(ran) end)
end)

describe("testing.each_seed", function()
  it("refuses a seed in its options, which it would replace with k", function()
    support.assert_arg_error(3, "each_seed", "seed is each_seed's own",
      function() testing.each_seed(2, function() end, { seed = 5 }) end)
  end)

  it("runs fn once per seed, 1..n for a count, passing the seed", function()
    local seen = {}
    testing.each_seed(4, function(k) seen[#seen + 1] = k; corral.sleep(1) end)
    assert.same({ 1, 2, 3, 4 }, seen)
    seen = {}
    testing.each_seed({ 9, 3 }, function(k) seen[#seen + 1] = k end)
    assert.same({ 9, 3 }, seen)
  end)

  it("runs each seed under that seed's schedule", function()
    local orders = {}
    testing.each_seed({ 5, 6 }, function(k)
      local log = {}
      corral.group(function(g) for i = 1, 6 do g:spawn(function() log[#log + 1] = i end) end end)
      orders[k] = table.concat(log, " ")
    end)
    assert.equal(start_order(6, 5), orders[5])
    assert.equal(start_order(6, 6), orders[6])
  end)

  it("stops at the first failure and raises 'seed = k: ' .. tostring(err)", function()
    local seen = {}
    local err = support.raises(testing.each_seed, 10, function(k)
      seen[#seen + 1] = k
      if k == 3 then error("bad luck", 0) end
    end)
    assert.equal("seed = 3: bad luck", err)
    assert.same({ 1, 2, 3 }, seen)
  end)

  it("names the seed of a failure whose __tostring raises", function()
    local function fn(k)
      if k == 2 then error(setmetatable({}, { __tostring = function() error("bug in __tostring") end })) end
    end
    local err = support.raises(testing.each_seed, 3, fn)
    -- (at the line that raised it)
    local at = SRC .. ":" .. debug.getinfo(fn, "S").linedefined + 1 .. ": "
    assert.equal("seed = 2: " .. at .. "(a table value whose __tostring failed)", err)
  end)

  it("keeps an assertion failure a failure, its message prefixed", function()
    local err = support.raises(testing.each_seed, { 4 }, function()
      corral.group(function(g) g:spawn(function() assert.is_nil(1) end) end)
    end)
    assert.is_true(is_failure(err))
    assert.matches("^seed = 4: " .. SRC:gsub("%p", "%%%0") .. ":%d+: Expected objects to be the same", err.message)
  end)

  it("finds an order bug, and the seed it names replays it", function()
    -- A lost update: correct in FIFO order, wrong when the second task reads
    -- before the first one writes.
    local function racy()
      local balance = 100
      corral.group(function(g)
        for _ = 1, 2 do
          g:spawn(function()
            local seen = balance
            corral.checkpoint()
            balance = seen + 10
          end)
        end
      end)
      if balance ~= 120 then error("balance is " .. balance, 0) end
    end
    assert.has_error(function() testing.run(racy) end, "balance is 110")   -- FIFO: both read 100
    local safe = function()
      local balance, lock = 100, corral.lock()
      corral.group(function(g)
        for _ = 1, 2 do
          g:spawn(function()
            lock:with(function()
              local seen = balance
              corral.checkpoint()
              balance = seen + 10
            end)
          end)
        end
      end)
      assert.equal(120, balance)
    end
    testing.each_seed(30, safe)
    local err = support.raises(testing.each_seed, 30, racy)
    local k = tonumber(err:match("^seed = (%d+): balance is 110$"))
    assert.is_number(k)
    assert.has_error(function() testing.run(racy, { seed = k }) end, "balance is 110")
  end)

  it("rejects bad arguments", function()
    support.assert_arg_error(1, "each_seed", "count or a list", function() testing.each_seed(true, print) end)
    support.assert_arg_error(1, "each_seed", "count must be an integer, got x", function() testing.each_seed("x", print) end)
    support.assert_arg_error(1, "each_seed", "integers", function() testing.each_seed({ 1.5 }, print) end)
    support.assert_arg_error(2, "each_seed", "function expected", function() testing.each_seed(1) end)
  end)

  -- What broke: a list with a hole ran the seeds before it and skipped the
  -- rest without a word, and a call inside a run failed as "seed = 1: ...",
  -- as if seed 1 had found a bug.
  it("refuses a hole in its list, and a call inside a run, before any seed runs", function()
    local ran = 0
    local gap = { 1, 2, 3 }
    gap[5] = 5
    for _, case in ipairs({ { { 1, nil, 3 }, "without holes, got seeds[3] but no seeds[2]" },
        { gap, "without holes, got seeds[5] but no seeds[4]" },
        { { [2] = 2 }, "without holes, got seeds[2] but no seeds[1]" },
        { { 1, 2, x = 3 }, "must be a list, got key 'x'" } }) do
      support.assert_arg_error(1, "each_seed", case[2], function()
        testing.each_seed(case[1], function() ran = ran + 1 end)
      end)
    end
    assert.equal(0, ran)
    local ok, err = pcall(testing.run, function()
      testing.each_seed(3, function() ran = ran + 1 end)
    end)
    assert.is_false(ok)
    assert.matches("testing.each_seed: cannot be called inside a running task (spawn a task or open a group instead)", err, 1, true)
    assert.is_nil(err:find("seed = ", 1, true))
    assert.equal(0, ran)
  end)

  it("names testing.async when its spec body is called inside a running task", function()
    local body = testing.async(function() end)
    local ok, err = pcall(testing.run, function() body() end)
    assert.is_false(ok)
    assert.matches("testing.async: cannot be called inside a running task (spawn a task or open a group instead)", err, 1, true)
  end)
end)

describe("corral.run's seed", function()
  it("leaves the FIFO order exactly as it is without a seed #fifo", function()
    assert.equal("1 2 3 4 5 6 7 8", start_order(8))
  end)

  it("gives the same order for the same seed, and orders differ across seeds", function()
    local distinct, firsts = {}, {}
    for seed = 1, 40 do
      local o = start_order(8, seed)
      assert.equal(o, start_order(8, seed))
      distinct[o] = true
      firsts[o:match("^%d+")] = true
    end
    local n = 0
    for _ in pairs(distinct) do n = n + 1 end
    assert.is_true(n > 30)
    for i = 1, 8 do assert.is_true(firsts[tostring(i)], "task " .. i .. " never ran first") end
  end)

  it("accepts any integer, 0 and negative ones included", function()
    assert.equal(start_order(5, -7), start_order(5, -7))
    assert.equal(start_order(5, 0), start_order(5, 0))
  end)

  it("orders deadlines due at the same instant by the seed; the clock stays exact", function()
    local function wake_order(seed)
      local log = {}
      testing.run(function()
        corral.group(function(g)
          for i = 1, 6 do
            g:spawn(function() corral.sleep(i % 2 + 1); log[#log + 1] = i .. "@" .. support.time() end)
          end
        end)
      end, { seed = seed })
      return table.concat(log, " ")
    end
    local seen = {}
    for seed = 1, 20 do
      local o = wake_order(seed)
      seen[o] = true
      -- every task due at 1 wakes before any task due at 2
      assert.matches("^[246]@1 [246]@1 [246]@1 [135]@2 [135]@2 [135]@2$", o)
    end
    assert.is_true(next(seen, next(seen)) ~= nil, "one order for every seed")
  end)

  it("lets a deadline and a sleep that end together go either way", function()
    local outcomes = {}
    for seed = 1, 40 do
      local r = testing.run(function() return corral.move_on_after(1, corral.sleep, 1) end, { seed = seed })
      outcomes[tostring(r)] = true
    end
    assert.same({ ["true"] = true, ["false"] = true }, outcomes)
  end)

  it("fires deadline ties in arming order without a seed #fifo", function()
    -- the scope's deadline was set before the sleep's
    assert.is_false(testing.run(function() return corral.move_on_after(1, corral.sleep, 1) end))
  end)

  it("rejects a seed that is not an integer", function()
    support.assert_arg_error(2, "run", "seed must be an integer", function()
      corral.run(print, { seed = 1.5 })
    end)
    support.assert_arg_error(2, "run", "seed must be an integer", function()
      corral.run(print, { seed = "1" })
    end)
  end)

  it("takes a whole float as the integer it is", function()
    local a = corral.run(function() return corral.tree({ format = "table" }).id end,
      { clock = "virtual", seed = 7.0 })
    assert.equal(1, a)
  end)
end)

describe("testing.wait_all_tasks_blocked", function()
  it("returns once every other task is blocked, before the clock moves", function()
    local log = support.log()
    testing.run(function()
      corral.group(function(g)
        g:spawn(function()
          for _ = 1, 3 do corral.checkpoint() end
          log:stamp("busy task blocks")
          corral.sleep(1)
          log:stamp("sleeper woke")
        end)
        local ev = corral.event()
        g:spawn(function() ev:wait(); log:stamp("event seen") end)
        testing.wait_all_tasks_blocked()
        log:stamp("all blocked")
        ev:set()
        testing.wait_all_tasks_blocked()
        log:stamp("all blocked again")
      end)
    end)
    assert.same({ "busy task blocks@0", "all blocked@0", "event seen@0", "all blocked again@0", "sleeper woke@1" },
      log.items)
  end)

  it("counts other callers as blocked and wakes them all", function()
    local log = support.log()
    testing.run(function()
      corral.group(function(g)
        for i = 1, 3 do
          g:spawn(function() testing.wait_all_tasks_blocked(); log:stamp("w" .. i) end)
        end
        g:spawn(function() corral.checkpoint(); corral.checkpoint(); log:stamp("busy done") end)
      end)
    end)
    assert.equal("busy done@0", log.items[1])
    assert.same({ "busy done@0", "w1@0", "w2@0", "w3@0" }, log:sorted())
  end)

  it("wakes when the others are blocked for good, instead of a deadlock", function()
    assert.equal("set", testing.run(function()
      local ev = corral.event()
      return corral.group(function(g)
        g:spawn(function() ev:wait() end)
        testing.wait_all_tasks_blocked()
        ev:set()
        return "set"
      end)
    end))
  end)

  it("works on the real clock too", function()
    local log = support.log()
    corral.run(function()
      corral.group(function(g)
        g:spawn(function() corral.checkpoint(); log:add("busy") end)
        testing.wait_all_tasks_blocked()
        log:add("blocked")
      end)
    end)
    assert.same({ "busy", "blocked" }, log.items)
  end)

  it("is a cancellation point", function()
    testing.run(function()
      local s = corral.scope(function(s)
        s:cancel()
        testing.wait_all_tasks_blocked()
        error("unreached")
      end)
      assert.is_nil(s)
      assert.is_true(corral.move_on_after(1, testing.wait_all_tasks_blocked))
    end)
  end)

  it("raises outside corral.run", function()
    support.assert_mentions(support.raises(testing.wait_all_tasks_blocked), "outside corral.run")
  end)
end)

describe("corral.run's autojump_threshold", function()
  -- A child process answers after some real time: a virtual timeout around
  -- the read must wait for it, not jump at once.
  local function slow_echo(threshold)
    return testing.run(function()
      local p <close> = corral.exec("/bin/sh", { "-c", "sleep 0.05; echo late" })
      local ok, line = corral.move_on_after(10, function() return p.stdout:read() end)
      p:close()
      return ok, line, corral.now()
    end, { autojump_threshold = threshold })
  end

  it("without it, a virtual timeout around real I/O fires at once", function()
    assert.same({ false, nil, 10 }, { slow_echo(nil) })
  end)

  it("lets real I/O complete before the virtual clock jumps", function()
    assert.same({ true, "late\n", 0 }, { slow_echo(30) })
  end)

  it("still jumps once every task has been blocked that long", function()
    local log = support.log()
    testing.run(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(100); log:stamp("slept") end)
        g:spawn(function() corral.sleep(50); log:stamp("half") end)
      end)
    end, { autojump_threshold = 0.01 })
    assert.same({ "half@50", "slept@100" }, log.items)
  end)

  it("rejects a bad threshold, and the real clock", function()
    support.assert_arg_error(2, "run", "autojump_threshold must be a finite number >= 0", function()
      corral.run(print, { clock = "virtual", autojump_threshold = -1 })
    end)
    -- math.huge never jumps: a run that sleeps waited for ever, unreported
    support.assert_arg_error(2, "run", "autojump_threshold must be a finite number >= 0", function()
      corral.run(print, { clock = "virtual", autojump_threshold = math.huge })
    end)
    support.assert_arg_error(2, "run", "needs clock = \"virtual\"", function()
      corral.run(print, { autojump_threshold = 1 })
    end)
  end)
end)

describe("testing.stream_pair", function()
  it("connects two streams both ways", function()
    local got = testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("ping")
      local r1 = b:read()
      b:write("pong")
      return { r1, a:read() }
    end)
    assert.same({ "ping", "pong" }, got)
  end)

  it("reads at most max bytes, and at most max_chunk with that option", function()
    local got = testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 3 })
      local _ <close> = a
      local _ <close> = b
      a:write("hello world")
      a:shutdown()
      local parts = { b:read(2) }
      for piece in function() return b:read() end do parts[#parts + 1] = piece end
      return parts
    end)
    assert.same({ "he", "llo", " wo", "rld" }, got)
  end)

  it("blocks a reader until data comes, and gives nil at EOF after the data, never ''", function()
    local log = support.log()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function()
          while true do
            local data = b:read()
            log:stamp(tostring(data))
            if data == nil then break end
          end
          log:stamp(tostring(b:read()))
        end)
        corral.sleep(1); a:write("x")
        corral.sleep(1); a:write("")
        corral.sleep(1); a:write("yz"); a:shutdown()
      end)
    end)
    assert.same({ "x@1", "yz@3", "nil@3", "nil@3" }, log.items)
  end)

  it("raises on writes after shutdown or close, and on the peer's writes after close", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:shutdown()
      a:shutdown()                                    -- twice is harmless
      local function epipe(f)                       -- an IoError, as on TCP
        local ok, e = pcall(f)
        assert.is_false(ok)
        assert.is_true(corral.is_io_error(e))
        assert.equal("EPIPE", e.code)
        assert.equal("stream:write: broken pipe (EPIPE)", tostring(e))
      end
      -- after our own shutdown: the program's mistake, a plain error at our line
      local ok, e = pcall(a.write, a, "x")
      assert.is_false(ok)
      assert.equal("stream:write: this stream was shut down for writing (s:shutdown() was called)", e)
      b:write("still open that way")
      assert.equal("still open that way", a:read())
      b:close()
      assert.is_nil(a:read())
      local c, d = testing.stream_pair()
      local _ <close> = c
      d:close()
      epipe(function() c:write("x") end)              -- the peer closed
      assert.is_true(b.closed)
      for _, op in ipairs({ "write", "read", "shutdown" }) do
        local ok, e = pcall(b[op], b, op == "write" and "x" or nil)
        assert.is_false(ok)
        assert.matches("stream:" .. op .. ": attempt to use a closed stream", e, 1, true)
      end
      b:close()                                       -- twice is harmless
    end)
  end)

  it("lets the peer read what was written before a close", function()
    assert.same({ "last words", nil }, testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("last words")
      a:close()
      return { b:read(), b:read() }
    end))
  end)

  it("wakes a reader blocked on a stream that another task closes", function()
    local log = support.log()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function()
          local ok, err = pcall(b.read, b)
          log:stamp(tostring(ok) .. " " .. tostring(err))
        end)
        corral.sleep(1)
        b:close()
      end)
    end)
    assert.same({ "false stream:read: closed while in use (ECLOSED)@1" }, log.items)
  end)

  it("closes on leaving a <close> block", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      do
        local _ <close> = a
        local _ <close> = b
      end
      assert.is_true(a.closed and b.closed)
    end)
  end)

  it("applies backpressure: write waits while the peer has `buffer` bytes unread", function()
    local log = support.log()
    testing.run(function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function()
          a:write("abcd"); log:stamp("wrote abcd")
          a:write("ef"); log:stamp("wrote ef")
          a:shutdown()
        end)
        corral.sleep(1)
        log:stamp("read " .. b:read(1))
        corral.sleep(1)
        log:stamp("read " .. b:read())
      end)
      log:stamp(tostring(b:read()))
    end)
    assert.same({ "wrote abcd@0", "read a@1", "wrote ef@1", "read bcdef@2", "nil@2" }, log.items)
  end)

  it("loses nothing when a read is cancelled", function()
    assert.same({ false, "late data" }, testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      local r = corral.move_on_after(1, b.read, b)
      a:write("late data")
      return { r, b:read() }
    end))
  end)

  -- (a TCP stream's kernel may have taken part of a waiting write: its
  -- cancel closes the stream with a reset, and so does the in-memory one's)
  it("closes its stream with a reset when a write waiting for room is cancelled, as TCP", function()
    assert.same({ false, true, "full", "ECONNRESET", "read" }, testing.run(function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = a
      local _ <close> = b
      a:write("full")
      local r = corral.move_on_after(1, a.write, a, "lost")
      local first = b:read()
      local reset = support.raises(b.read, b)
      local late = support.raises(a.write, a, "after")
      assert.matches("stream:write: attempt to use a closed stream", late, 1, true)
      return { r, a.closed, first, reset.code, reset.op }
    end))
  end)

  it("is a cancellation point even when the data is there", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("x")
      corral.scope(function(s)
        s:cancel()
        assert.is_true(corral.is_cancelled(select(2, pcall(b.read, b))))
        assert.is_true(corral.is_cancelled(select(2, pcall(a.write, a, "y"))))
      end)
      assert.equal("x", b:read())
    end)
  end)

  it("lets only one task read a stream at a time", function()
    local log = support.log()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function() log:add("first got " .. b:read()) end)
        testing.wait_all_tasks_blocked()
        g:spawn(function()
          local ok, err = pcall(b.read, b)
          log:add(tostring(ok) .. " " .. tostring(err))
        end)
        testing.wait_all_tasks_blocked()
        a:write("x")
      end)
    end)
    assert.same({ "false stream:read: another task is already reading this stream (one reader at a time)",
                  "first got x" }, log.items)
  end)

  it("after EMSGSIZE the next read_line skips the rest of the over-long line, as on TCP", function()
    local got = testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 3 })
      local _ <close> = a
      local _ <close> = b
      return corral.group(function(g)
        g:spawn(function()
          a:write("NOTE xxxxxxxxxx"); corral.sleep(1)
          a:write(" FLUSHALL\nGET k\n0123456789tail\nnext\n"); a:shutdown()
        end)
        local r = {}
        r[1] = support.raises(b.read_line, b, 8).partial
        r[2] = b:read_line(8)
        r[3] = corral.now()
        support.raises(b.read_line, b, 8)
        r[4] = b:read_exactly(4)                         -- takes the tail, ends the skip
        r[5] = b:read_line(8)
        r[6] = b:read_line(8)
        r[7] = b:read_line(8) or "<nil>"
        return r
      end)
    end)
    assert.same({ "NOTE xxxxx", "GET k", 1, "tail", "", "next", "<nil>" }, got)
  end)

  it("a read or read_exactly cancelled before it took a byte leaves the skip, as on TCP", function()
    local got = testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("abcdefgh")
      support.raises(b.read_line, b, 3)
      local r = { corral.move_on_after(0, b.read, b, 1),
                  corral.move_on_after(0.05, b.read_exactly, b, 5) }
      a:write("ij\nnext\n")
      r[3] = b:read_line()
      return r
    end)
    assert.same({ false, false, "next" }, got)
  end)

  it("reads lines and exact sizes", function()
    local got = testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 1 })
      local _ <close> = a
      local _ <close> = b
      return corral.group(function(g)
        g:spawn(function()
          a:write("one\ntw"); corral.sleep(1)
          a:write("o\n12345thr"); corral.sleep(1)
          a:write("ee\nlast"); a:shutdown()
        end)
        local r = { b:read_line(), b:read_line(), b:read_exactly(5) }
        for line in b:lines() do r[#r + 1] = line end
        return r
      end)
    end)
    assert.same({ "one", "two", "12345", "three", "last" }, got)
    local lines = testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("one\ntwo\n12345three\nlast")
      a:shutdown()
      local r = { b:read_line(), b:read_line(), b:read_exactly(5) }
      for line in b:lines() do r[#r + 1] = line end
      return r
    end)
    assert.same({ "one", "two", "12345", "three", "last" }, lines)
    local err = support.raises(testing.run, function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      a:write("abc")
      a:close()
      b:read_exactly(5)
    end)
    -- as on TCP streams: an IoError EOF holding what was read
    assert.is_true(corral.is_io_error(err))
    assert.equal("EOF", err.code)
    assert.equal("abc", err.partial)
    assert.equal("stream:read_exactly: end of file after 3 of 5 bytes (EOF)", tostring(err))
  end)

  it("rejects bad arguments and unknown options", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      support.assert_arg_error(1, "read", "max must be an integer >= 1", function() a:read(0) end)
      -- worded as on TCP for every bad max (it said "number expected")
      support.assert_arg_error(1, "read", "max must be an integer >= 1", function() a:read("x") end)
      support.assert_arg_error(1, "read", "max must be an integer >= 1", function() a:read(1.5) end)
      support.assert_arg_error(1, "write", "string expected", function() a:write({}) end)
    end)
    support.assert_arg_error(1, "stream_pair", "max_chunk must be an integer >= 1", function()
      testing.stream_pair({ max_chunk = 0 })
    end)
    support.assert_arg_error(1, "stream_pair", "unknown option 'max_chunks'", function()
      testing.stream_pair({ max_chunks = 2 })
    end)
  end)
end)
