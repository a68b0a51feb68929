-- spec/policies/retry_spec.lua: corral.retry (docs/policies.md) under the virtual
-- clock: exact backoff times, jitter, the budget, and which errors are retried.
local corral = require "corral"
local support = require "support"
local retry = require "corral.retry"

local vrun = support.vrun

-- A function failing its first `n` calls (with "fail <k>", or errs[k]) and then
-- returning "ok", k; log gets "attempt <k>@<now>" for each call.
local function flaky(n, log, errs)
  local k = 0
  return function()
    k = k + 1
    if log then log:stamp("attempt " .. k) end
    if k <= n then error(errs and errs[k] or ("fail " .. k), 0) end
    return "ok", k
  end
end

describe("retry", function()
  it("returns at once when the first attempt succeeds", function()
    local called = false
    local a, b, t = vrun(function()
      local a, b = retry(flaky(0), { on_retry = function() called = true end })
      return a, b, corral.now()
    end)
    assert.same({ "ok", 1, 0 }, { a, b, t })
    assert.is_false(called)
  end)

  it("waits min(delay * factor^(k-1), max_delay) before attempt k+1", function()
    local log = support.log()
    local waits = {}
    vrun(function()
      local r = retry(flaky(5, log), {
        attempts = 6, delay = 1, factor = 2, max_delay = 5,
        on_retry = function(err, attempt, wait) waits[#waits + 1] = { err, attempt, wait, corral.now() } end,
      })
      assert.equal("ok", r)
    end)
    assert.same({ "attempt 1@0", "attempt 2@1", "attempt 3@3", "attempt 4@7", "attempt 5@12",
      "attempt 6@17" }, log.items)
    assert.same({ { "fail 1", 1, 1, 0 }, { "fail 2", 2, 2, 1 }, { "fail 3", 3, 4, 3 },
      { "fail 4", 4, 5, 7 }, { "fail 5", 5, 5, 12 } }, waits)
  end)

  it("uses delay 0.1, factor 2 and 3 attempts by default", function()
    local log = support.log()
    local err = vrun(function() return support.raises(retry, flaky(10, log)) end)
    assert.equal("fail 3", err)
    assert.same({ "attempt 1@0", "attempt 2@0.10000000000000001", "attempt 3@0.30000000000000004" },
      log.items)
  end)

  it("passes the attempt number to fn", function()
    local seen = {}
    vrun(function()
      retry(function(k) seen[#seen + 1] = k; if k < 3 then error("x") end end, { delay = 0 })
    end)
    assert.same({ 1, 2, 3 }, seen)
  end)

  it("raises the last attempt's error unchanged, never calling on_retry after it", function()
    local errs = { {}, {}, {} }
    local retries = 0
    local err = vrun(function()
      return support.raises(retry, flaky(3, nil, errs), { on_retry = function() retries = retries + 1 end })
    end)
    assert.equal(errs[3], err)           -- the same table
    assert.equal(2, retries)
  end)

  it("raises a string error without adding a position", function()
    local err = vrun(function() return support.raises(retry, flaky(9), { attempts = 1 }) end)
    assert.equal("fail 1", err)
  end)

  it("jitters each wait to w*(1-jitter) + w*jitter*random()", function()
    local draws, waits = { 0, 0.5, 0.75 }, {}
    local k = 0
    vrun(function()
      retry(flaky(3), {
        attempts = 4, delay = 2, factor = 2, jitter = 0.5,
        random = function() k = k + 1; return draws[k] end,
        on_retry = function(_, _, w) waits[#waits + 1] = w end,
      })
    end)
    assert.same({ 1, 3, 7 }, waits)      -- 2*0.5+0, 4*0.5+4*0.5*0.5, 8*0.5+8*0.5*0.75
  end)

  -- What broke: an infinite wait jittered to inf * 0 = NaN, which sleep
  -- refused, and that error replaced the attempt's.
  it("keeps an infinite wait infinite under jitter, until an outer cancel", function()
    local waits = {}
    local ok, err = pcall(vrun, function()
      corral.move_on_after(1000, retry, flaky(3), {
        attempts = 3, delay = math.huge, max_delay = math.huge, jitter = 0.5,
        random = function() return 0 end,
        on_retry = function(_, _, w) waits[#waits + 1] = w end,
      })
      return corral.now()
    end)
    assert.is_true(ok, err)
    assert.equal(1000, err)
    assert.same({ math.huge }, waits)
  end)

  it("rejects a random function that leaves [0, 1)", function()
    local err = vrun(function()
      return support.raises(retry, flaky(1), { jitter = 1, random = function() return 1 end })
    end)
    support.assert_mentions(err, "random must return a number in [0, 1)")
  end)

  it("stops at once when retry_if says no, and gives it the error and attempt", function()
    local asked = {}
    local log = support.log()
    local err = vrun(function()
      return support.raises(retry, flaky(5, log), {
        attempts = 10,
        retry_if = function(e, attempt) asked[#asked + 1] = e .. "/" .. attempt; return attempt < 2 end,
      })
    end)
    assert.equal("fail 2", err)
    assert.same({ "fail 1/1", "fail 2/2" }, asked)
    assert.equal(2, #log.items)
  end)

  it("never retries a Cancelled", function()
    local calls = 0
    local r, t = vrun(function()
      local r = corral.move_on_after(1, retry, function()
        calls = calls + 1
        corral.sleep(5)
      end, { attempts = 5, retry_if = function() error("retry_if must not see a Cancelled") end })
      return r, corral.now()
    end)
    assert.is_false(r)
    assert.equal(1, t)
    assert.equal(1, calls)
  end)

  it("lets an outer cancellation interrupt the wait between attempts", function()
    local log = support.log()
    local r, t = vrun(function()
      local r = corral.move_on_after(1.5, retry, flaky(5, log), { attempts = 5, delay = 1 })
      return r, corral.now()
    end)
    assert.is_false(r)
    assert.equal(1.5, t)
    assert.same({ "attempt 1@0", "attempt 2@1" }, log.items)
  end)

  describe("with a timeout budget", function()
    it("cancels the running attempt and raises a Timeout when the budget ends", function()
      local log = support.log()
      local err, t = vrun(function()
        local err = support.raises(retry, function(k)
          log:stamp("attempt " .. k)
          local ok, e = pcall(corral.sleep, 2)
          if not ok then log:stamp(corral.is_cancelled(e) and "cancelled" or "other"); error(e, 0) end
          error("slow " .. k, 0)
        end, { attempts = math.huge, delay = 1, factor = 1, timeout = 7 })
        return err, corral.now()
      end)
      assert.equal(7, t)
      assert.is_true(corral.is_timeout(err))
      assert.equal(7, err.seconds)
      assert.equal("slow 2", err.last_error)
      assert.same({ "attempt 1@0", "attempt 2@3", "attempt 3@6", "cancelled@7" }, log.items)
    end)

    it("raises the last error at once when the next wait would reach past it", function()
      local log = support.log()
      local retries = 0
      local err, t = vrun(function()
        local err = support.raises(retry, flaky(9, log), {
          attempts = 10, delay = 1, factor = 2, timeout = 6,
          on_retry = function() retries = retries + 1 end,
        })
        return err, corral.now()
      end)
      assert.equal("fail 3", err)                      -- at 3 the next wait (4) ends at 7 > 6
      assert.equal(3, t)
      assert.equal(2, retries)
      assert.same({ "attempt 1@0", "attempt 2@1", "attempt 3@3" }, log.items)
    end)

    it("treats a wait ending exactly at the budget as past it", function()
      local err, t = vrun(function()
        return support.raises(retry, flaky(9), { delay = 1, factor = 1, timeout = 2, attempts = 9 }), corral.now()
      end)
      assert.equal("fail 2", err)
      assert.equal(1, t)
    end)

    it("raises a Timeout when an attempt turns its Cancelled into another error", function()
      local err = vrun(function()
        return support.raises(retry, function()
          pcall(corral.sleep, 10)
          error("swallowed the cancel", 0)
        end, { timeout = 1, attempts = 5 })
      end)
      assert.is_true(corral.is_timeout(err))
      assert.equal("swallowed the cancel", err.last_error)
    end)

    it("returns the result of an attempt that succeeds within the budget", function()
      local r, t = vrun(function()
        return retry(flaky(2), { delay = 1, timeout = 10 }), corral.now()
      end)
      assert.equal("ok", r)
      assert.equal(3, t)
    end)

    it("lets an outer cancellation through as a Cancelled, not a Timeout", function()
      local err = vrun(function()
        local e
        corral.scope(function(s)
          corral.group(function(g)
            g:spawn(function() corral.sleep(1); s:cancel("outer") end)
            local ok, err = pcall(retry, function() corral.sleep(5) end, { timeout = 3 })
            e = err
            assert(not ok)
            error(err, 0)
          end)
        end)
        return e
      end)
      assert.is_true(corral.is_cancelled(err))
      assert.equal("outer", err.reason)
    end)
  end)

  it("rejects bad arguments and unknown options", function()
    vrun(function()
      local f = flaky(0)
      support.assert_arg_error(1, "retry", "function expected", function() retry(1) end)
      support.assert_arg_error(2, "retry", "unknown option 'timout'", function() retry(f, { timout = 1 }) end)
      support.assert_arg_error(2, "retry", "attempts must be an integer >= 1 or math.huge",
        function() retry(f, { attempts = 0 }) end)
      support.assert_arg_error(2, "retry", "jitter must be a number between 0 and 1",
        function() retry(f, { jitter = 2 }) end)
      support.assert_arg_error(2, "retry", "delay must be a number >= 0", function() retry(f, { delay = -1 }) end)
      support.assert_arg_error(2, "retry", "timeout must be a number >= 0",
        function() retry(f, { timeout = 0 / 0 }) end)
      support.assert_arg_error(2, "retry", "on_retry must be a function",
        function() retry(f, { on_retry = true }) end)
    end)
  end)
end)
