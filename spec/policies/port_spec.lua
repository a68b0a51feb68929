-- spec/policies/port_spec.lua: cases ported from Erlang/OTP's supervisor_SUITE and
-- from Trio/AnyIO-style tests of race, gather, map, retry and RFC 8305 happy
-- eyeballs, written against the contract (API.md section 9) under the virtual clock.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local retry = require "corral.retry"
local gather = require "corral.gather"
local map = require "corral.map"
local race = require "corral.race"
local he = require "corral.happy_eyeballs"

local vrun = support.vrun

local function polite(log, name)
  return function(child)
    log:stamp(name .. " start " .. child.restarts)
    child:wait_stopping()
    log:stamp(name .. " stop")
  end
end

local function listing(sup)
  local out = {}
  for _, c in ipairs(sup:children()) do out[#out + 1] = c.name .. ":" .. c.status .. ":" .. c.restarts end
  return table.concat(out, " ")
end

describe("supervisor (ported from OTP's supervisor_SUITE)", function()
  it("rest_for_one restarts the failed child and those after it, not a temporary one", function()
    local log = support.log()
    local seen = vrun(function()
      local seen
      supervisor.run({
        strategy = "rest_for_one", intensity = 5,
        children = {
          { name = "a", fn = polite(log, "a") },
          { name = "b", fn = function(c)
            log:stamp("b start " .. c.restarts)
            if c.restarts == 0 then corral.sleep(1); error("b crash", 0) end
            c:wait_stopping()
            log:stamp("b stop")
          end },
          { name = "c", fn = polite(log, "c") },
          { name = "d", fn = polite(log, "d"), restart = "temporary" },
        },
      }, function(sup)
        corral.sleep(2)
        seen = listing(sup)
        sup:stop()
      end)
      return seen
    end)
    assert.equal("a:running:0 b:running:1 c:running:1", seen)
    assert.same({
      "a start 0@0", "b start 0@0", "c start 0@0", "d start 0@0",
      "d stop@1", "c stop@1", "b start 1@1", "c start 1@1",
      "c stop@2", "b stop@2", "a stop@2",
    }, log.items)
  end)

  it("gives up with the failures inside the window only, a restart exactly period ago included", function()
    local eg, t = vrun(function()
      local times = { 1, 4, 6 }
      local eg = support.error_group(supervisor.run, {
        intensity = 1, period = 2,
        children = { { name = "w", fn = function(c)
          corral.sleep_until(times[c.restarts + 1])
          error("fail at " .. corral.now(), 0)
        end } },
      })
      return eg, corral.now()
    end)
    assert.equal(6, t)
    assert.same({ "fail at 4.0", "fail at 6.0" }, eg.errors)
    assert.equal("supervisor: restart intensity exceeded (2 restarts in 2 s)", eg.message)
  end)

  it("escalates an inner supervisor's give-up to the outer one", function()
    local eg = vrun(function()
      return support.error_group(supervisor.run, {
        name = "outer", intensity = 1, period = 100,
        children = { { name = "inner", fn = function()
          supervisor.run({ intensity = 0, children = { { name = "x", fn = function()
            corral.sleep(1)
            error("x", 0)
          end } } })
        end } },
      })
    end)
    assert.equal("supervisor: restart intensity exceeded (2 restarts in 100 s)", eg.message)
    assert.same({ "inner", "inner" }, eg.tasks)
    assert.is_true(corral.is_error_group(eg.errors[1]))
  end)

  it("caps a second, shorter stop over a first one and stops in reverse order", function()
    local log = support.log()
    vrun(function()
      local function stubborn(name)
        return function()
          local _, e = pcall(corral.sleep, math.huge)
          log:stamp(name .. " " .. e.source)
        end
      end
      supervisor.run({ children = {
        { name = "a", shutdown = 100, fn = stubborn("a") },
        { name = "b", shutdown = 100, fn = stubborn("b") },
      } }, function(sup)
        corral.group(function(g)
          g:spawn(function() sup:stop(10) end)
          g:spawn(function() corral.sleep(2); sup:stop(1) end)
        end)
      end)
    end)
    assert.same({ "b stop@3", "a stop@4" }, log.items)
  end)

  it("answers requests for unknown children and after the end", function()
    vrun(function()
      local kept
      supervisor.run({ children = { { name = "a", restart = "transient", fn = function() end } } },
        function(sup)
          kept = sup
          assert.has_error(function() sup:remove("zz") end, "supervisor:remove: no child named 'zz'")
          assert.has_error(function() sup:restart("zz") end, "supervisor:restart: no child named 'zz'")
        end)
      assert.has_error(function() kept:add({ name = "q", fn = print }) end,
        "supervisor:add: the supervisor has stopped")
      assert.same({}, kept:children())
    end)
  end)
end)

describe("retry (Trio/AnyIO style)", function()
  it("waits exactly min(delay*factor^(k-1), max_delay), jittered by opts.random", function()
    local log = support.log()
    local rs, i = { 0, 0.5, 0.75 }, 0
    local err = vrun(function()
      local _, e = pcall(retry, function(a)
        log:stamp("a" .. a)
        error("e" .. a, 0)
      end, {
        attempts = 4, delay = 1, factor = 3, max_delay = 5, jitter = 0.5,
        random = function() i = i + 1; return rs[i] end,
        on_retry = function(e, a, w) log:add(e .. " " .. a .. " " .. w) end,
      })
      return e
    end)
    assert.equal("e4", err)
    assert.same({ "a1@0", "e1 1 0.5", "a2@0.5", "e2 2 2.25", "a3@2.75", "e3 3 4.375", "a4@7.125" },
      log.items)
  end)

  it("raises a Timeout when the budget ends in an attempt, the last error when it would end in a wait", function()
    local t1, e1, t2, e2 = vrun(function()
      local _, e1 = pcall(retry, function(a)
        if a == 1 then error("first", 0) end
        corral.sleep(10)
      end, { delay = 1, timeout = 5 })
      local t1 = corral.now()
      local _, e2 = pcall(retry, function(a) corral.sleep(1); error("e" .. a, 0) end,
        { delay = 2, timeout = 5, attempts = 10 })
      return t1, e1, corral.now() - t1, e2
    end)
    assert.equal(5, t1)
    assert.is_true(corral.is_timeout(e1))
    assert.equal("first", e1.last_error)
    assert.equal(4, t2)
    assert.equal("e2", e2)
  end)
end)

describe("gather and map (Trio/AnyIO style)", function()
  it("keep input order, nil results and holes", function()
    local r, m = vrun(function()
      local r = gather({
        function() corral.sleep(2); return nil end,
        function() end,
        function() corral.sleep(1); return 1, nil, 3 end,
      }, { limit = 2 })
      local m = map(function(x) corral.sleep(5 - x); if x % 2 == 0 then return nil end return x end,
        { 1, 2, 3, 4 })
      return r, m
    end)
    assert.same({ { n = 1 }, { n = 0 }, { n = 3, 1, nil, 3 } }, r)
    assert.same({ 1, nil, 3, nil }, m)
  end)

  it("never exceed the limit, and run every call with defer_errors", function()
    local running, most, ran = 0, 0, 0
    local eg = vrun(function()
      return support.error_group(map, function(x)
        running = running + 1
        most = math.max(most, running)
        corral.sleep(x)
        running, ran = running - 1, ran + 1
        if x == 1 then error("one", 0) end
      end, { 3, 1, 2, 1, 1 }, { limit = 2, defer_errors = true })
    end)
    assert.equal(2, most)
    assert.equal(5, ran)
    assert.same({ "one", "one", "one" }, eg.errors)
  end)
end)

describe("race (Trio/AnyIO style)", function()
  it("raises every failure in order of failure when no branch returns", function()
    local eg = vrun(function()
      return support.error_group(race, {
        function() corral.sleep(2); error("a", 0) end,
        function() corral.sleep(1); error("b", 0) end,
        function() error("c", 0) end,
      })
    end)
    assert.same({ "c", "b", "a" }, eg.errors)
    assert.same({ "race[3]", "race[2]", "race[1]" }, eg.tasks)
  end)
end)

describe("happy_eyeballs (RFC 8305)", function()
  it("staggers by delay, starts the next at once when the latest fails, and closes the losers", function()
    local log = support.log()
    local s, t = vrun(function()
      local addrs = {
        { address = "::1", family = "inet6" }, { address = "::2", family = "inet6" },
        { address = "1.1.1.1", family = "inet" }, { address = "2.2.2.2", family = "inet" },
      }
      local plan = { ["::1"] = { 10, true }, ["::2"] = { 0.125, false },
        ["1.1.1.1"] = { 1, false }, ["2.2.2.2"] = { 0.25, true } }
      local s = he.connect("h", 80, {
        resolve = function() return addrs end,
        connect = function(a)
          log:stamp("start " .. a)
          local ok, e = pcall(corral.sleep, plan[a][1])
          if not ok then log:stamp("cancel " .. a); error(e, 0) end
          if not plan[a][2] then error("refused", 0) end
          return { a = a, close = function() end }
        end,
      })
      return s, corral.now()
    end)
    assert.equal("2.2.2.2", s.a)
    assert.equal(0.875, t)
    assert.same({ "start ::1@0", "start 1.1.1.1@0.25", "start ::2@0.5", "start 2.2.2.2@0.625",
      "cancel 1.1.1.1@0.875", "cancel ::1@0.875" }, support.by_time(log.items))
  end)
end)
