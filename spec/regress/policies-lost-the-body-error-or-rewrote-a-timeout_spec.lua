-- Policies that lost or changed an error: supervisor.run's body error was
-- replaced by "stop: the supervisor has stopped" when no child was left, or
-- by a Cancelled when a give-up or an outer cancel interrupted the graceful
-- stop; retry rewrote an attempt's own Timeout (seconds, last_error) as if
-- its budget had run out; happy_eyeballs.interleave looped for ever on a
-- list with a hole and raised an internal error for an entry that was not
-- a table.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local retry = require "corral.retry"
local he = require "corral.happy_eyeballs"

describe("regression: supervisor.run and its body's error", function()
  it("raises the body's error when no child is left", function()
    for _, spec in ipairs{ {}, { children = { { name = "t", restart = "temporary", fn = function() end } } } } do
      local ok, e = pcall(support.vrun, function()
        supervisor.run(spec, function() corral.sleep(1); error("the body's own error", 0) end)
      end)
      assert.is_false(ok)
      assert.matches("the body's own error", tostring(e))
      assert.is_nil(tostring(e):find("has stopped", 1, true))
    end
  end)

  it("keeps the body's error when a give-up interrupts the stop, on every seed", function()
    for seed = 1, 40 do
      local ok, e = pcall(corral.run, function()
        supervisor.run({ intensity = 0, children = {
          { name = "a", fn = function() corral.sleep(1); error("a crash", 0) end } } },
          function() corral.sleep(1); error("body boom", 0) end)
      end, { clock = "virtual", seed = seed })
      assert.is_false(ok)
      assert.matches("body boom", tostring(e), 1, true)
    end
  end)
end)

describe("regression: retry and an attempt's own Timeout", function()
  it("raises it unchanged, though a budget is set", function()
    local inner
    local ok, e = pcall(support.vrun, function()
      retry(function()
        local _, t = pcall(corral.fail_after, 1, corral.sleep, 5)
        inner = t
        error(t, 0)
      end, { attempts = 2, delay = 0.5, timeout = 100 })
    end)
    assert.is_false(ok)
    assert.is_true(rawequal(inner, e))
    assert.equal(1, e.seconds)
    assert.is_nil(e.last_error)
  end)
end)

describe("regression: happy_eyeballs.interleave", function()
  -- (it took a list up to its first hole; since 0.11.0 it refuses one, as
  -- race, gather and map refuse theirs: a resolver's hole at [1] made
  -- connect try nothing)
  it("refuses a list with a hole, and names a bad entry", function()
    assert.error_matches(function()
      he.interleave({ { address = "x" }, nil, { address = "y" } })
    end, "addresses must be a list without holes, got addresses%[3%] but no addresses%[2%]")
    assert.error_matches(function() he.interleave({ "1.2.3.4" }) end,
                         "address #1 is not a table with an address string")
  end)
end)

describe("regression: gather settle and happy_eyeballs odd ends", function()
  local gather = require "corral.gather"
  it("settle reports a call that cancelled its own task, instead of a hole", function()
    local r = support.vrun(function()
      return gather({ function() return 1 end,
                      function() corral.current_task():cancel("me"); corral.sleep(1) end },
                    { settle = true })
    end)
    assert.is_true(r[1].ok)
    assert.is_false(r[2].ok)
    assert.is_true(corral.is_cancelled(r[2].err))
  end)

  it("a connect that returns no stream is a failed attempt, not a winner", function()
    local got = support.vrun(function()
      return he.connect("h", 80, { delay = 0.01,
        resolve = function() return { { address = "a" }, { address = "b" } } end,
        connect = function(addr) if addr == "a" then return nil end
          return { close = function() end, addr = addr } end })
    end)
    assert.equal("b", got.addr)
  end)
end)
