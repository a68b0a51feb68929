-- spec/policies/gather_spec.lua: corral.gather and corral.map (docs/policies.md)
-- under the virtual clock.
local corral = require "corral"
local support = require "support"
local gather = require "corral.gather"
local map = require "corral.map"

local vrun = support.vrun

local function after(s, ...)
  local results = table.pack(...)
  return function()
    corral.sleep(s)
    return table.unpack(results, 1, results.n)
  end
end

local function fail_after(s, err)
  return function() corral.sleep(s); error(err, 0) end
end

-- A concurrency meter: meter.wrap(fn) counts fn's calls running at once; meter.max
-- is the most ever seen, meter.started how many calls began.
local function meter()
  local m = { now = 0, max = 0, started = 0 }
  function m.wrap(fn)
    return function(...)
      m.started, m.now = m.started + 1, m.now + 1
      m.max = math.max(m.max, m.now)
      local _ <close> = support.closer(function() m.now = m.now - 1 end)
      return fn(...)
    end
  end
  return m
end

describe("gather", function()
  it("returns table.pack of each function's results, in input order", function()
    local r, t = vrun(function()
      return gather({ after(3, "a", nil), after(1), after(2, 1, 2, 3) }), corral.now()
    end)
    assert.same({ { n = 2, "a", nil }, { n = 0 }, { n = 3, 1, 2, 3 } }, r)
    assert.equal(3, t)
  end)

  it("returns an empty list for no functions", function()
    assert.same({}, vrun(function() return gather({}) end))
  end)

  it("never runs more than limit functions at once, and keeps them busy", function()
    local m = meter()
    local t = vrun(function()
      local fns = {}
      for i = 1, 7 do fns[i] = m.wrap(after(1, i)) end
      local r = gather(fns, { limit = 3 })
      for i = 1, 7 do assert.equal(i, r[i][1]) end
      return corral.now()
    end)
    assert.equal(3, m.max)
    assert.equal(3, t)                -- ceil(7 / 3) rounds of one second
  end)

  it("keeps the limit while a failure cancels the rest: the held-back never run", function()
    local m = meter()
    local eg = vrun(function()
      local fns = { m.wrap(fail_after(1, "boom")) }
      for i = 2, 6 do fns[i] = m.wrap(after(5)) end
      return support.error_group(gather, fns, { limit = 2 })
    end)
    assert.equal(2, m.max)
    assert.equal(2, m.started)
    assert.same({ "boom" }, eg.errors)
    assert.same({ "gather[1]" }, eg.tasks)
  end)

  it("cancels the others at the first failure and raises an ErrorGroup", function()
    local log = support.log()
    local eg, t = vrun(function()
      local eg = support.error_group(gather, {
        support.sleeper(log, "a"), fail_after(2, "boom"), support.sleeper(log, "c"),
      })
      return eg, corral.now()
    end)
    assert.equal(2, t)
    assert.same({ "a@2", "c@2" }, log:sorted())
    assert.same({ "boom" }, eg.errors)
    assert.same({ "gather[2]" }, eg.tasks)
  end)

  it("with defer_errors lets everything finish and raises every failure in order", function()
    local done = {}
    local eg, t = vrun(function()
      local eg = support.error_group(gather, {
        fail_after(3, "late"), function() corral.sleep(4); done[#done + 1] = "ok" end, fail_after(1, "early"),
      }, { defer_errors = true, name = "jobs" })
      return eg, corral.now()
    end)
    assert.equal(4, t)
    assert.same({ "ok" }, done)
    assert.same({ "early", "late" }, eg.errors)
    assert.same({ "jobs[3]", "jobs[1]" }, eg.tasks)
  end)

  it("with settle never raises for a failure and keeps the raw error", function()
    local boom = {}
    local r = vrun(function()
      return gather({ after(1, "a", nil), fail_after(2, boom) }, { settle = true })
    end)
    assert.same({ ok = true, n = 2, "a", nil }, r[1])
    assert.is_false(r[2].ok)
    assert.equal(boom, r[2].err)
    assert.truthy(r[2].traceback:find("stack traceback", 1, true))
  end)

  it("with settle still lets an outer cancellation through, never as an entry", function()
    local log = support.log()
    local got, t = vrun(function()
      local got = "returned"
      corral.move_on_after(2, function()
        got = gather({ support.sleeper(log, "a"), fail_after(1, "x") }, { settle = true })
      end)
      return got, corral.now()
    end)
    assert.equal("returned", got)       -- gather raised, so got was never assigned
    assert.equal(2, t)
    assert.same({ "a@2" }, log.items)
  end)

  it("lets an outer cancellation through as a Cancelled", function()
    local err = vrun(function()
      local e
      corral.scope(function(s)
        corral.group(function(g)
          g:spawn(function() corral.sleep(1); s:cancel("stop") end)
          local ok, err = pcall(gather, { after(5), after(6) }, { limit = 1 })
          e = err
          assert(not ok)
          error(err, 0)
        end)
      end)
      return e
    end)
    assert.is_true(corral.is_cancelled(err))
    assert.equal("stop", err.reason)
  end)

  it("rejects bad arguments and unknown options", function()
    vrun(function()
      support.assert_arg_error(1, "gather", "list of functions", function() gather("x") end)
      support.assert_arg_error(2, "gather", "unknown option 'limt'", function() gather({}, { limt = 1 }) end)
      support.assert_arg_error(2, "gather", "limit must be an integer >= 1", function() gather({}, { limit = 0 }) end)
      support.assert_arg_error(2, "gather", "limit must be an integer >= 1", function() gather({}, { limit = 1.5 }) end)
      support.assert_arg_error(2, "gather", "settle must be a boolean", function() gather({}, { settle = 1 }) end)
      support.assert_arg_error(2, "gather", "table expected", function() gather({}, 3) end)
    end)
  end)
end)

describe("map", function()
  it("returns the first result of fn(item) for each item, in input order", function()
    local r = vrun(function()
      return map(function(x) corral.sleep(10 - x); return x * 2, "dropped" end, { 1, 2, 3 })
    end)
    assert.same({ 2, 4, 6 }, r)
  end)

  it("passes fn the item alone", function()
    local seen = {}
    vrun(function()
      map(function(...) seen[#seen + 1] = select("#", ...) end, { "a", "b" })
    end)
    assert.same({ 1, 1 }, seen)
  end)

  it("never runs more than limit calls at once", function()
    local m = meter()
    local t = vrun(function()
      map(m.wrap(function(s) corral.sleep(s) end), { 1, 1, 1, 1, 1 }, { limit = 2 })
      return corral.now()
    end)
    assert.equal(2, m.max)
    assert.equal(3, t)
  end)

  it("raises an ErrorGroup naming the failing item's task", function()
    local eg = vrun(function()
      return support.error_group(map, function(x)
        corral.sleep(1)
        if x == "bad" then error("cannot map " .. x, 0) end
      end, { "ok", "bad" })
    end)
    assert.same({ "cannot map bad" }, eg.errors)
    assert.same({ "map[2]" }, eg.tasks)
  end)

  it("with defer_errors raises every failure after all calls finished", function()
    local eg, t = vrun(function()
      local eg = support.error_group(map, function(s)
        corral.sleep(s)
        if s ~= 2 then error("e" .. s, 0) end
      end, { 3, 2, 1 }, { defer_errors = true })
      return eg, corral.now()
    end)
    assert.equal(3, t)
    assert.same({ "e1", "e3" }, eg.errors)
  end)

  it("rejects bad arguments and unknown options", function()
    vrun(function()
      support.assert_arg_error(1, "map", "function expected", function() map({}, {}) end)
      support.assert_arg_error(2, "map", "list expected", function() map(print, 3) end)
      support.assert_arg_error(3, "map", "unknown option 'settle'", function() map(print, {}, { settle = true }) end)
    end)
  end)
end)

-- What broke: a Cancelled whose scope had exited, raised by a branch, was
-- kept as the Cancelled object by race, gather{settle} and retry, where a
-- group (and gather, map) make it the ordinary error it is: code that
-- filters corral.is_cancelled out of a group's errors dropped real failures.
describe("a stale Cancelled raised by a branch", function()
  it("is the same ordinary error in every policy, as in a group", function()
    local race, retry, map = require "corral.race", require "corral.retry", require "corral.map"
    local gather = require "corral.gather"
    local seen = {}
    support.vrun(function()
      local function stale()
        local saved
        corral.move_on_after(0, function() local _, e = pcall(corral.sleep, 1); saved = e end)
        return saved
      end
      local f = function() error(stale()) end
      seen.group = support.error_group(corral.group, function(g) g:spawn(f) end).errors[1]
      seen.race = support.error_group(race, { f }).errors[1]
      seen.gather = support.error_group(gather, { f }).errors[1]
      seen.map = support.error_group(map, f, { 1 }).errors[1]
      seen.settle = gather({ f }, { settle = true })[1].err
      seen.retry = select(2, pcall(retry, f, { attempts = 2, delay = 0 }))
    end)
    for name, e in pairs(seen) do
      assert.is_false(corral.is_cancelled(e), name)
      assert.matches("^a Cancelled was raised outside the scope it cancelled", e, nil, false)
    end
  end)
end)
