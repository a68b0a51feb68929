-- spec/policies/race_spec.lua: corral.race (docs/policies.md) under the virtual clock.
local corral = require "corral"
local support = require "support"
local race = require "corral.race"

local vrun = support.vrun

-- A branch that sleeps `s` then returns its results, stamping `label` when done.
local function after(s, ...)
  local results = table.pack(...)
  return function()
    corral.sleep(s)
    return table.unpack(results, 1, results.n)
  end
end

-- A branch that fails with err after s seconds.
local function fail_after(s, err)
  return function() corral.sleep(s); error(err, 0) end
end

describe("race", function()
  it("returns the index and every result of the first function to return", function()
    local r = table.pack(vrun(function()
      local r = table.pack(race({ after(3, "slow"), after(1, "fast", nil, 7), after(2, "mid") }))
      r[#r + 1] = corral.now()
      return table.unpack(r, 1, r.n + 1)
    end))
    assert.same({ n = 5, 2, "fast", nil, 7, 1 }, r)
  end)

  it("calls each function with no arguments", function()
    local counts = {}
    vrun(function()
      race({
        function(...) counts[1] = select("#", ...); return 1 end,
        function(...) counts[2] = select("#", ...); corral.sleep(1) end,
      })
    end)
    assert.same({ 0, 0 }, counts)
  end)

  it("cancels the losers and waits for their cleanup before returning", function()
    local log = support.log()
    local function loser(label)
      return function()
        local _ <close> = support.closer(function(err)
          corral.scope(function() corral.sleep(1) end, { shield = true })
          log:stamp(label .. (corral.is_cancelled(err) and " cancelled" or " not cancelled"))
        end)
        corral.sleep(math.huge)
      end
    end
    vrun(function()
      race({ loser("a"), after(2, "win"), loser("b") })
      log:stamp("race returned")
    end)
    assert.same({ "a cancelled@3", "b cancelled@3", "race returned@3" }, support.sorted(log.items))
    assert.equal("race returned@3", log.items[3])
  end)

  it("does not let a failure win", function()
    local i, v, t = vrun(function()
      local i, v = race({ fail_after(1, "boom"), after(2, "ok") })
      return i, v, corral.now()
    end)
    assert.same({ 2, "ok", 2 }, { i, v, t })
  end)

  it("ignores a loser that fails while it is being cancelled", function()
    local i = vrun(function()
      return race({
        function()
          local ok, e = pcall(corral.sleep, math.huge)
          assert(corral.is_cancelled(e) and not ok)
          error("failed while cancelled", 0)
        end,
        after(1, "ok"),
      })
    end)
    assert.equal(2, i)
  end)

  it("lets the first branch to return win a tie, and drops the other's results", function()
    local returned = {}                    -- which branch's function returned first
    local function tied(label)
      return function()
        corral.sleep(1)
        returned[#returned + 1] = label
        return label
      end
    end
    local i, v, t = vrun(function()
      local i, v = race({ tied("first"), tied("second") })
      return i, v, corral.now()
    end)
    assert.equal(1, t)
    assert.same({ "first", "second" }, support.sorted(returned))  -- both returned: a tie
    assert.equal(returned[1], v)           -- the earlier to return won (either, by schedule)
    assert.equal(v == "first" and 1 or 2, i)
  end)

  it("raises an ErrorGroup of every failure, in order of failure, when all fail", function()
    local boom = setmetatable({}, { __tostring = function() return "boom" end })
    local eg, t = vrun(function()
      local eg = support.error_group(race, { fail_after(3, "c"), fail_after(1, boom), fail_after(2, "b") })
      return eg, corral.now()
    end)
    assert.equal(3, t)
    assert.equal(3, #eg)
    assert.equal(boom, eg.errors[1])                 -- the raw value, same table
    assert.same({ "b", "c" }, { eg.errors[2], eg.errors[3] })
    assert.same({ "race[2]", "race[3]", "race[1]" }, eg.tasks)
    assert.truthy(eg.tracebacks[2]:find("stack traceback", 1, true))
  end)

  it("keeps the first 1000 failures and counts the rest, as a group does", function()
    local eg = support.error_group(vrun, function()
      local fns = {}
      for i = 1, 1500 do fns[i] = fail_after(i / 1e4, "f" .. i) end
      race(fns)
    end)
    assert.equal(1000, #eg.errors)
    assert.equal(500, eg.dropped)
    assert.equal("f1", eg.errors[1])
    assert.equal("f1000", eg.errors[1000])
  end)

  it("names the branches after opts.name", function()
    local eg = vrun(function()
      return support.error_group(race, { fail_after(0, "x") }, { name = "fetch" })
    end)
    assert.same({ "fetch[1]" }, eg.tasks)
  end)

  it("lets an outer cancellation through, and every branch sees it", function()
    local log = support.log()
    local ok, t = vrun(function()
      local ok = corral.move_on_after(2, race, { support.sleeper(log, "a"), support.sleeper(log, "b") })
      return ok, corral.now()
    end)
    assert.is_false(ok)
    assert.equal(2, t)
    assert.same({ "a@2", "b@2" }, log:sorted())
  end)

  it("raises the outer Cancelled itself, not an ErrorGroup", function()
    local err = vrun(function()
      local e
      corral.scope(function(s)
        corral.group(function(g)
          g:spawn(function() corral.sleep(1); s:cancel("enough") end)
          local ok, err = pcall(race, { after(5, 1), fail_after(0.5, "x") })
          e = err
          assert(not ok)
          error(err, 0)
        end)
      end)
      return e
    end)
    assert.is_true(corral.is_cancelled(err))
    assert.equal("enough", err.reason)
  end)


  it("raises an outer Cancelled that comes after the win, dropping the winner's results", function()
    local raised, handed, closed = vrun(function()
      local handed, closed
      local ok = corral.move_on_after(1.5, function()
        -- The documented way not to leak it: the branch hands it over itself.
        local _ <close> = setmetatable({}, { __close = function() closed = handed end })
        race({
          function() corral.sleep(1); handed = "conn"; return handed end,
          function()
            local _ <close> = setmetatable({}, { __close = function()
              corral.scope(function() corral.sleep(2) end, { shield = true })
            end })
            corral.sleep(10)
          end,
        })
        error("race returned after the outer deadline")
      end)
      return not ok, handed, closed
    end)
    assert.is_true(raised)
    assert.equal("conn", handed)
    assert.equal("conn", closed)
  end)
  it("rejects bad arguments and unknown options", function()
    vrun(function()
      support.assert_arg_error(1, "race", "list of functions expected", function() race(42) end)
      support.assert_arg_error(1, "race", "empty", function() race({}) end)
      support.assert_arg_error(1, "race", "element 2", function() race({ print, 3 }) end)
      support.assert_arg_error(2, "race", "unknown option 'nmae'", function() race({ print }, { nmae = "x" }) end)
      support.assert_arg_error(2, "race", "name must be a string", function() race({ print }, { name = {} }) end)
    end)
  end)
end)
