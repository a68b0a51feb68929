-- spec/policies/hostile_spec.lua: race, gather, map, retry and happy_eyeballs
-- checked sentence by sentence against their contract (docs/policies.md), with
-- the programs a hostile outside suite writes: every branch failing, results
-- with trailing nils, lists changed under the policy, Cancelleds raised from
-- elsewhere, outer cancels while losers unwind, bad arguments of every kind,
-- retry's exact wait sequence, and happy_eyeballs over a scripted network.
-- All on the virtual clock; nothing depends on the order of tasks ready at
-- the same instant (make test-seeds runs this under many seeds).
local corral = require "corral"
local support = require "support"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local retry = require "corral.retry"
local he = require "corral.happy_eyeballs"

local vrun = support.vrun

-- fn() returns after `t` seconds with the rest of the arguments.
local function after(t, ...)
  local r = table.pack(...)
  return function() corral.sleep(t); return table.unpack(r, 1, r.n) end
end

-- fn() raises `e` after `t` seconds.
local function fail_after(t, e)
  return function() corral.sleep(t); error(e, 0) end
end

-- A Cancelled whose scope has exited (taken from a task cancelled and waited).
local function stale_cancelled()
  local e
  corral.scope(function(s)
    s:cancel("long gone")
    e = select(2, pcall(corral.checkpoint))
  end)
  assert(corral.is_cancelled(e))
  return e
end

describe("race (hostile)", function()
  it("raises every failure in order of failure, each filed under its branch", function()
    local a, b = { "table error" }, setmetatable({}, { __tostring = function() return "b" end })
    local eg = vrun(function()
      return support.error_group(race, {
        fail_after(3, "third"), fail_after(1, a), fail_after(2, b), fail_after(0, nil),
      })
    end)
    assert.equal(4, #eg)
    assert.same({ "race[4]", "race[2]", "race[3]", "race[1]" }, eg.tasks)
    assert.is_nil(eg.errors[1])                       -- error(nil) is kept, as nil
    assert.is_true(rawequal(a, eg.errors[2]))         -- raw values, same identity
    assert.is_true(rawequal(b, eg.errors[3]))
    assert.equal("third", eg.errors[4])
    assert.equal(0, eg.dropped)
  end)

  it("returns the index alone for a branch that returns nothing, and keeps trailing nils", function()
    vrun(function()
      assert.same({ n = 1, 2 }, table.pack(race({ after(2), after(1) })))
      assert.same({ n = 5, 1, "a", nil, "c", nil }, table.pack(race({ after(0, "a", nil, "c", nil) })))
      assert.same({ n = 3, 1, nil, nil }, table.pack(race({ after(0, nil, nil) })))
    end)
  end)

  it("with one function returns it, or raises its failure in an ErrorGroup", function()
    vrun(function()
      assert.same({ 1, "only" }, { race({ after(1, "only") }) })
      local eg = support.error_group(race, { fail_after(1, "only") })
      assert.same({ "race[1]" }, eg.tasks)
      assert.same({ "only" }, eg.errors)
    end)
  end)

  it("rejects an empty list, a non-function entry and a second options table", function()
    vrun(function()
      support.assert_arg_error(1, "race", "list of functions is empty", function() race({}) end)
      support.assert_arg_error(1, "race", "element 2: function expected, got string",
        function() race({ after(0), "f" }) end)
      support.assert_arg_error(1, "race", "callable table",
        function() race({ setmetatable({}, { __call = function() end }) }) end)
      support.assert_arg_error(1, "race", "list of functions expected, got nil", function() race() end)
      support.assert_arg_error(2, "race", "unknown option 'limit'", function() race({ after(0) }, { limit = 1 }) end)
      support.assert_arg_error(3, "race", "no argument expected", function() race({ after(0) }, nil, {}) end)
    end)
  end)

  it("waits for a loser blocked in a shielded cleanup before it returns", function()
    local log = support.log()
    local r, t = vrun(function()
      local r = table.pack(race({
        after(1, "winner"),
        function()
          local ok, e = pcall(corral.sleep, 10)
          corral.scope(function() corral.sleep(5) end, { shield = true })
          log:stamp("cleanup done")
          error(e, 0)
        end,
      }))
      return r, corral.now()
    end)
    assert.same({ n = 2, 1, "winner" }, r)
    assert.equal(6, t)
    assert.same({ "cleanup done@6" }, log.items)
  end)

  it("propagates an outer cancel as that Cancelled, never an ErrorGroup of Cancelleds", function()
    vrun(function()
      for _, swallow in ipairs({ false, true }) do
        local branch = function()
          local ok, e = pcall(corral.sleep, 5)
          if not swallow then error(e, 0) end
          return "swallowed"
        end
        local err
        corral.scope(function(s)
          corral.group(function(g)
            g:spawn(function() corral.sleep(1); s:cancel("outer") end)
            err = support.raises(race, { branch, branch, branch })
            error(err, 0)
          end)
        end)
        assert.is_true(corral.is_cancelled(err))
        assert.is_false(corral.is_error_group(err))
        assert.equal("outer", err.reason)
      end
    end)
  end)

  it("counts a stale Cancelled a branch raises as a failure, which does not win", function()
    vrun(function()
      local stale = stale_cancelled()
      assert.same({ 2, "b" }, { race({ function() error(stale, 0) end, after(1, "b") }) })
      local eg = support.error_group(race, { function() error(stale, 0) end, fail_after(1, "b") })
      assert.same({ "race[1]", "race[2]" }, eg.tasks)
      assert.is_false(corral.is_cancelled(eg.errors[1]))
      support.assert_mentions(eg.errors[1], "raised outside the scope it cancelled", "long gone")
    end)
  end)

  it("raises a clear error when every branch cancelled itself", function()
    vrun(function()
      local self_cancel = function() corral.current_task():cancel("me"); corral.sleep(1) end
      local err = support.raises(race, { self_cancel, self_cancel })
      assert.equal("race: no branch returned (every branch was cancelled)", err)
    end)
  end)
end)

describe("gather (hostile)", function()
  it("rejects a limit that is not an integer >= 1", function()
    vrun(function()
      local f = after(0)
      for _, bad in ipairs({ 0, -1, 1.5, 0 / 0, -math.huge, 2 ^ 63, 1e308 }) do
        support.assert_arg_error(2, "gather", "limit must be an integer >= 1",
          function() gather({ f }, { limit = bad }) end)
      end
      support.assert_arg_error(2, "gather", "limit must be an integer >= 1 or math.huge, got string",
        function() gather({ f }, { limit = "2" }) end)
      support.assert_arg_error(2, "gather", "settle must be a boolean, got number",
        function() gather({ f }, { settle = 1 }) end)
      support.assert_arg_error(1, "gather", "element 1: function expected, got boolean",
        function() gather({ true }) end)
    end)
  end)

  it("takes a huge integer limit, and a float with an integer value", function()
    vrun(function()
      local fns = { after(1, "a"), after(1, "b") }
      assert.same({ { n = 1, "a" }, { n = 1, "b" } }, gather(fns, { limit = math.maxinteger }))
      assert.same({ { n = 1, "a" }, { n = 1, "b" } }, gather(fns, { limit = 1.0 }))
      assert.equal(3, corral.now())                   -- 1.0 is 1: one at a time
    end)
  end)

  it("keeps every result, trailing nils counted in n", function()
    vrun(function()
      local r = gather({ after(0, 1, nil, nil), after(0), after(0, nil) })
      assert.same({ { n = 3, 1 }, { n = 0 }, { n = 1 } }, r)
    end)
  end)

  it("with settle gives n for a success, the raw error for a failure", function()
    vrun(function()
      local e = { "raw" }
      local r = gather({ after(0, 1, nil), fail_after(1, e), fail_after(0, nil) }, { settle = true })
      assert.is_true(r[1].ok)
      assert.equal(2, r[1].n)
      assert.equal(1, r[1][1])
      assert.is_false(r[2].ok)
      assert.is_true(rawequal(e, r[2].err))
      assert.is_false(r[3].ok)
      assert.is_nil(r[3].err)
    end)
  end)

  it("with settle lets a Cancelled from outside through, never as an entry", function()
    vrun(function()
      for _, limit in ipairs({ false, 1 }) do
        local r = table.pack(corral.move_on_after(1, gather,
          { after(5, "late"), fail_after(0, "x"), after(0, "y") },
          { settle = true, limit = limit or nil }))
        assert.same({ n = 1, false }, r)
        local err = support.raises(corral.fail_after, 1, gather, { after(5) }, { settle = true })
        assert.is_true(corral.is_timeout(err))
      end
    end)
  end)

  it("with a limit, cancelled from outside, never starts the calls still waiting", function()
    local started = {}
    vrun(function()
      local fns = {}
      for i = 1, 5 do fns[i] = function() started[#started + 1] = i; corral.sleep(1) end end
      local err = support.raises(corral.fail_after, 1.5, gather, fns, { limit = 2 })
      assert.is_true(corral.is_timeout(err))
    end)
    assert.same({ 1, 2, 3, 4 }, support.sorted(started))  -- 3 and 4 at 1; 5 never
  end)

  it("by default raises the first failure only; with defer_errors every one, in order", function()
    local log = support.log()
    vrun(function()
      local fns = { fail_after(2, "a"), fail_after(1, "b"),
                    function() corral.sleep(3); log:stamp("c") return "c" end }
      local eg = support.error_group(gather, fns)
      assert.same({ "b" }, eg.errors)
      assert.same({ "gather[2]" }, eg.tasks)
      assert.same({}, log.items)                      -- c was cancelled
      eg = support.error_group(gather, fns, { defer_errors = true })
      assert.same({ "b", "a" }, eg.errors)
      assert.same({ "gather[2]", "gather[1]" }, eg.tasks)
      assert.same({ "c@4" }, log.items)               -- c ran to its end (1 + 3)
    end)
  end)
end)

describe("map (hostile)", function()
  it("maps an empty list to an empty list", function()
    vrun(function() assert.same({}, map(error, {})) end)
  end)

  it("rejects holes, keys, a packed table and a proxy whose # lies", function()
    vrun(function()
      local id = function(x) return x end
      support.assert_arg_error(2, "map", "got items[3] but no items[2]", function() map(id, { 1, nil, 3 }) end)
      support.assert_arg_error(2, "map", "got items[2] but no items[1]", function() map(id, { [2] = 1 }) end)
      support.assert_arg_error(2, "map", "got key 'n'", function() map(id, table.pack(1, 2)) end)
      support.assert_arg_error(2, "map", "#items is 3 and it holds 0",
        function() map(id, setmetatable({}, { __len = function() return 3 end })) end)
      support.assert_arg_error(1, "map", "function expected, got table", function() map({ 1 }, id) end)
      support.assert_arg_error(3, "map", "unknown option 'settle'", function() map(id, {}, { settle = true }) end)
    end)
  end)

  it("keeps the first result of each call only, and a hole for a nil", function()
    vrun(function()
      local r = map(function(x)
        if x == 2 then return nil, "dropped" end
        return x * 10, "dropped", "too"
      end, { 1, 2, 3 })
      assert.equal(10, r[1])
      assert.is_nil(r[2])
      assert.equal(30, r[3])
      assert.is_nil(r.n)
    end)
  end)

  it("takes false as an item like any other", function()
    vrun(function()
      assert.same({ "false", "false", "1" }, map(tostring, { false, false, 1 }))
    end)
  end)

  it("passes fn the item alone", function()
    vrun(function()
      assert.same({ 1 }, map(function(...) return select("#", ...) end, { "x" }))
    end)
  end)
end)

describe("retry (hostile)", function()
  -- fn(k) logs "k@now" and fails with "fail k" until attempt `ok_at`.
  local function flaky(log, ok_at)
    return function(k)
      log:add(k .. "@" .. support.time())
      if k == ok_at then return "ok", nil end
      error("fail " .. k, 0)
    end
  end

  it("rejects attempts, delays, factor and jitter out of range", function()
    vrun(function()
      local f = after(0)
      for _, a in ipairs({ 0, -1, 1.5, 0 / 0, "3" }) do
        support.assert_arg_error(2, "retry", "attempts must be an integer >= 1 or math.huge",
          function() retry(f, { attempts = a }) end)
      end
      for k, v in pairs({ delay = -1, factor = -0.5, max_delay = -1, timeout = -1 }) do
        support.assert_arg_error(2, "retry", k .. " must be a number >= 0",
          function() retry(f, { [k] = v }) end)
        support.assert_arg_error(2, "retry", k .. " must be a number >= 0",
          function() retry(f, { [k] = 0 / 0 }) end)
      end
      for _, j in ipairs({ -0.01, 1.01, 0 / 0 }) do
        support.assert_arg_error(2, "retry", "jitter must be a number between 0 and 1",
          function() retry(f, { jitter = j }) end)
      end
      support.assert_arg_error(2, "retry", "retry_if must be a function, got number",
        function() retry(f, { retry_if = 1 }) end)
    end)
  end)

  it("with attempts = 1 calls once, asking neither retry_if nor on_retry", function()
    local log, asked = support.log(), 0
    local err = vrun(function()
      return support.raises(retry, flaky(log), { attempts = 1,
        retry_if = function() asked = asked + 1 return true end,
        on_retry = function() asked = asked + 1 end })
    end)
    assert.equal("fail 1", err)
    assert.same({ "1@0" }, log.items)
    assert.equal(0, asked)
  end)

  it("with attempts = math.huge goes on until fn returns, keeping trailing nils", function()
    local log = support.log()
    local r = vrun(function()
      return table.pack(retry(flaky(log, 50), { attempts = math.huge, delay = 0 }))
    end)
    assert.same({ n = 2, "ok" }, r)
    assert.equal(50, #log.items)
    assert.equal("50@0", log.items[50])               -- delay 0: no time passes
  end)

  it("waits exactly min(delay*factor^(k-1), max_delay), and tells on_retry so", function()
    local log, waits = support.log(), {}
    vrun(function()
      retry(flaky(log, 7), { attempts = 7, delay = 1, factor = 3, max_delay = 20,
        on_retry = function(err, k, w) waits[#waits + 1] = { err, k, w } end })
    end)
    assert.same({ "1@0", "2@1", "3@4", "4@13", "5@33", "6@53", "7@73" }, log.items)
    assert.same({ { "fail 1", 1, 1 }, { "fail 2", 2, 3 }, { "fail 3", 3, 9 },
                  { "fail 4", 4, 20 }, { "fail 5", 5, 20 }, { "fail 6", 6, 20 } }, waits)
  end)

  it("shrinks the waits with a factor below 1 and caps them with a smaller max_delay", function()
    local waits = {}
    local on_retry = function(_, _, w) waits[#waits + 1] = w end
    vrun(function()
      support.raises(retry, flaky(support.log()), { attempts = 4, delay = 8, factor = 0.5, on_retry = on_retry })
      support.raises(retry, flaky(support.log()), { attempts = 3, delay = 8, max_delay = 1, on_retry = on_retry })
      support.raises(retry, flaky(support.log()), { attempts = 3, delay = 1, factor = 0, on_retry = on_retry })
    end)
    assert.same({ 8, 4, 2, 1, 1, 1, 0 }, waits)
  end)

  it("jitters w to w*(1-jitter) + w*jitter*random(), random asked once per wait", function()
    local waits, draws = {}, { 0, 0.5, 0.75 }
    vrun(function()
      support.raises(retry, flaky(support.log()), { attempts = 4, delay = 4, factor = 1, jitter = 0.5,
        random = function() return table.remove(draws, 1) end,
        on_retry = function(_, _, w) waits[#waits + 1] = w end })
    end)
    assert.same({ 2, 3, 3.5 }, waits)
    assert.same({}, draws)
  end)

  it("raises the same error value, a table by identity and a string without a position", function()
    vrun(function()
      local e = setmetatable({}, { __tostring = function() return "E" end })
      assert.is_true(rawequal(e, support.raises(retry, function() error(e) end, { delay = 0 })))
      assert.equal("plain", support.raises(retry, function() error("plain", 0) end, { delay = 0 }))
      assert.is_nil(support.raises(retry, function() error(nil) end, { delay = 0 }))
    end)
  end)

  it("raises a Timeout when the budget ends in an attempt, with the last error in it", function()
    local log = support.log()
    local e = { "first" }
    local err, t = vrun(function()
      return support.raises(retry, function(k)
        log:add(k .. "@" .. support.time())
        if k == 1 then error(e) end
        corral.sleep(10)
      end, { timeout = 5, delay = 1 }), corral.now()
    end)
    assert.is_true(corral.is_timeout(err))
    assert.equal(5, err.seconds)
    assert.is_true(rawequal(e, err.last_error))
    assert.equal(5, t)
    assert.same({ "1@0", "2@1" }, log.items)
  end)

  it("raises the last error at once when the wait would end past the budget", function()
    local log = support.log()
    local err, t = vrun(function()
      return support.raises(retry, function(k)
        log:add(k .. "@" .. support.time()); corral.sleep(1); error("e" .. k, 0)
      end, { timeout = 5, delay = 1, attempts = 10 }), corral.now()
    end)
    assert.equal("e2", err)                           -- at 3 the wait (2) ends at 5
    assert.equal(3, t)
    assert.same({ "1@0", "2@2" }, log.items)
  end)

  it("raises a hook's error as it is, in place of the attempt's", function()
    vrun(function()
      local mine = { "hook" }
      local bad = function() error(mine) end
      assert.is_true(rawequal(mine, support.raises(retry, fail_after(0, "x"), { delay = 0, retry_if = bad })))
      assert.is_true(rawequal(mine, support.raises(retry, fail_after(0, "x"), { delay = 0, on_retry = bad })))
      assert.is_true(rawequal(mine, support.raises(retry, fail_after(0, "x"),
        { delay = 1, jitter = 1, random = bad })))
    end)
  end)

  it("lets a blocking retry_if and on_retry take their time within no budget", function()
    local log = support.log()
    local t = vrun(function()
      support.raises(retry, flaky(log), { attempts = 3, delay = 1, factor = 1,
        retry_if = function() corral.sleep(2) return true end,
        on_retry = function() corral.sleep(3) end })
      return corral.now()
    end)
    assert.same({ "1@0", "2@6", "3@12" }, log.items)   -- 2 + 3 + 1 between attempts
    assert.equal(12, t)
  end)

  it("never retries a Cancelled, nor asks retry_if or on_retry about one", function()
    local asked, calls = 0, 0
    vrun(function()
      local hook = function() asked = asked + 1 return true end
      local r = table.pack(corral.move_on_after(1, retry, function()
        calls = calls + 1; corral.sleep(5)
      end, { attempts = 10, delay = 0, retry_if = hook, on_retry = hook }))
      assert.same({ n = 1, false }, r)
      local err = support.raises(retry, function()
        calls = calls + 1
        corral.scope(function(s) s:cancel(); corral.sleep(1) end)  -- its own scope takes it
        error("after", 0)
      end, { attempts = 2, delay = 0, retry_if = hook, on_retry = hook })
      assert.equal("after", err)
    end)
    assert.equal(3, calls)
    assert.equal(2, asked)                            -- the second retry only
  end)

  it("retries a stale Cancelled as the ordinary error it is", function()
    local calls = 0
    local err = vrun(function()
      local stale = stale_cancelled()
      return support.raises(retry, function() calls = calls + 1; error(stale, 0) end, { delay = 0 })
    end)
    assert.equal(3, calls)
    assert.is_false(corral.is_cancelled(err))
    support.assert_mentions(err, "raised outside the scope it cancelled")
  end)
end)

-- A scripted network for happy_eyeballs: `spec` lists {address, seconds,
-- "ok" | "fail"} in the resolver's order ("::" in an address: inet6). The
-- log holds "start a@t", "fail a@t", "conn a@t", "cancel a@t", "close a@t".
local function network(spec)
  local net = { log = support.log(), open = {} }
  local by, addrs = {}, {}
  for i, s in ipairs(spec) do
    by[s[1]] = s
    addrs[i] = { address = s[1], family = s[1]:find(":", 1, true) and "inet6" or "inet" }
  end
  net.opts = {
    resolve = function() return addrs end,
    connect = function(address)
      local s = by[address]
      net.log:stamp("start " .. address)
      local ok, e = pcall(corral.sleep, s[2])
      if not ok then net.log:stamp("cancel " .. address); error(e, 0) end
      if s[3] == "fail" then
        net.log:stamp("fail " .. address)
        error({ code = "ECONNREFUSED", address = address }, 0)
      end
      net.log:stamp("conn " .. address)
      local stream = { address = address }
      net.open[stream] = true
      function stream.close(st) net.open[st] = nil; net.log:stamp("close " .. st.address) end
      return stream
    end,
  }
  function net.left_open()
    local n = 0
    for _ in pairs(net.open) do n = n + 1 end
    return n
  end
  return net
end

describe("happy_eyeballs.connect (hostile)", function()
  it("interleaves families, staggers by delay and starts the next at once on a failure", function()
    local net = network({ { "10.0.0.1", 10, "ok" }, { "10.0.0.2", 1, "fail" }, { "::1", 0.125, "fail" },
                          { "::2", 5, "ok" }, { "10.0.0.3", 0.25, "ok" } })
    local s, t = vrun(function()
      local s = he.connect("h", 80, net.opts)
      s:close()
      return s, corral.now()
    end)
    assert.equal("10.0.0.3", s.address)
    assert.equal(1.125, t)
    assert.same(support.by_time({
      "start 10.0.0.1@0", "start ::1@0.25", "fail ::1@0.375", "start 10.0.0.2@0.375",
      "start ::2@0.625", "start 10.0.0.3@0.875", "conn 10.0.0.3@1.125",
      "cancel 10.0.0.1@1.125", "cancel 10.0.0.2@1.125", "cancel ::2@1.125", "close 10.0.0.3@1.125",
    }), support.by_time(net.log.items))
  end)

  it("closes every connection but the winner's, however late it completes", function()
    local net = network({ { "10.0.0.1", 1, "ok" }, { "10.0.0.2", 1, "ok" }, { "10.0.0.3", 1, "ok" } })
    vrun(function()
      local s = he.connect("h", 80, { delay = 0, resolve = net.opts.resolve, connect = function(a)
        -- completes even when cancelled, as a connect whose answer had come
        return corral.scope(function() return net.opts.connect(a) end, { shield = true })
      end })
      assert.equal(1, net.left_open())
      assert.is_true(net.open[s])
      s:close()
    end)
    assert.equal(0, net.left_open())
  end)

  it("raises an ErrorGroup of every failure, in order of failure, filed under the address", function()
    local net = network({ { "10.0.0.1", 1, "fail" }, { "::1", 0.1, "fail" }, { "10.0.0.2", 0.3, "fail" } })
    local eg = vrun(function() return support.error_group(he.connect, "h", 443, net.opts) end)
    assert.same({ "::1", "10.0.0.2", "10.0.0.1" }, eg.tasks)
    assert.same({ "::1", "10.0.0.2", "10.0.0.1" },
      { eg.errors[1].address, eg.errors[2].address, eg.errors[3].address })
    assert.equal("happy_eyeballs.connect: all 3 attempts to connect to h port 443 failed", eg.message)
  end)

  it("closes every stream when an outer cancel comes mid-connect, and raises that Cancelled", function()
    local net = network({ { "10.0.0.1", 1, "ok" }, { "::1", 1, "ok" }, { "10.0.0.2", 1, "ok" } })
    vrun(function()
      local err = support.raises(corral.fail_after, 0.6, he.connect, "h", 80, {
        resolve = net.opts.resolve,
        connect = function(a)        -- a connect that completes under the cancel
          return corral.scope(function() return net.opts.connect(a) end, { shield = true })
        end,
      })
      assert.is_true(corral.is_timeout(err))
      assert.equal(1.5, corral.now())  -- the last attempt started at 0.5, shielded for 1
    end)
    assert.equal(0, net.left_open())
    local closed = 0
    for _, line in ipairs(net.log.items) do
      if line:find("^close ") then closed = closed + 1 end
    end
    assert.equal(3, closed)
  end)

  it("raises the resolver's error unchanged, and says so when it finds nothing", function()
    vrun(function()
      local mine = { "resolver" }
      assert.is_true(rawequal(mine, support.raises(he.connect, "h", 80,
        { resolve = function() error(mine) end })))
      assert.equal("happy_eyeballs.connect: no address found for h",
        support.raises(he.connect, "h", 80, { resolve = function() return {} end }))
      support.assert_mentions(support.raises(he.connect, "h", 80, { resolve = function() return nil end }),
        "the resolver's addresses must be a list")
      support.assert_mentions(support.raises(he.connect, "h", 80,
        { resolve = function() return { { address = "a" }, "b" } end }), "address #2")
    end)
  end)

  it("rejects bad arguments, naming the function and the argument", function()
    vrun(function()
      local c = function() error("unreached") end
      support.assert_arg_error(1, "happy_eyeballs.connect", "string expected, got nil", function() he.connect(nil, 80) end)
      support.assert_arg_error(1, "happy_eyeballs.connect", "host is empty", function() he.connect("", 80) end)
      for _, p in ipairs({ -1, 65536, 1.5, "x" }) do
        support.assert_arg_error(2, "happy_eyeballs.connect", "port must be an integer in 0..65535",
          function() he.connect("h", p, { connect = c }) end)
      end
      support.assert_arg_error(3, "happy_eyeballs.connect", "delay must be a number >= 0",
        function() he.connect("h", 80, { delay = -0.1, connect = c }) end)
      support.assert_arg_error(3, "happy_eyeballs.connect", "unknown option 'timeout'",
        function() he.connect("h", 80, { timeout = 1 }) end)
    end)
  end)
end)
