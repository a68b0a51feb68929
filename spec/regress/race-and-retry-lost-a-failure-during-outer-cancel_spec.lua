-- race, happy_eyeballs and retry, cancelled from outside while a branch or an
-- attempt turned its Cancelled into an error (its cleanup raised), returned
-- as if nothing had failed: race and happy_eyeballs kept the failure in a
-- list they only raise when no branch wins, and retry called on_retry for a
-- retry that could not happen, then raised the Cancelled. The failure is now
-- raised (an ErrorGroup for race and happy_eyeballs, the attempt's error for
-- retry), as a group raises a child's error while it is cancelled. A second
-- pass found the same loss when another branch then won (race,
-- happy_eyeballs) and in gather{settle = true}, and a failure from just
-- before the cancel taken for one during it (the check gave up the CPU).
local corral = require "corral"
local support = require "support"
local race = require "corral.race"
local retry = require "corral.retry"
local he = require "corral.happy_eyeballs"

local function fails_in_cleanup(msg)
  return function() pcall(corral.sleep, 10); error(msg, 0) end
end

describe("regression: a failure during an outer cancel", function()
  it("race raises it in an ErrorGroup", function()
    local ok, err = support.vrun(function()
      return pcall(corral.move_on_after, 1, race, { fails_in_cleanup("cleanup failed"),
                                                                function() corral.sleep(10) end })
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.same({ "cleanup failed" }, err.errors)
    assert.same({ "race[1]" }, err.tasks)
  end)

  it("race still raises the Cancelled for a failure from before the cancel", function()
    local ok, done = support.vrun(function()
      local ok = corral.move_on_after(1, race, { function() error("early", 0) end,
                                                 function() corral.sleep(10) end })
      return ok, true
    end)
    assert.is_false(ok)
    assert.is_true(done)
  end)

  it("happy_eyeballs raises it in its ErrorGroup", function()
    local ok, err = support.vrun(function()
      return pcall(corral.move_on_after, 1, he.connect, "h", 80, {
        resolve = function() return { { address = "10.0.0.1", family = "inet" } } end,
        connect = fails_in_cleanup("refused in cleanup"),
      })
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.same({ "refused in cleanup" }, err.errors)
  end)

  it("retry raises the attempt's error and tells on_retry of no retry", function()
    local heard = {}
    local ok, err = support.vrun(function()
      return pcall(corral.move_on_after, 1, retry, fails_in_cleanup("attempt failed"), {
        attempts = 3, on_retry = function(e) heard[#heard + 1] = e end,
      })
    end)
    assert.is_false(ok)
    assert.equal("attempt failed", err)
    assert.same({}, heard)
  end)

  it("happy_eyeballs takes a whole float port, as tcp.connect does", function()
    local err = support.vrun(function()
      return select(2, pcall(he.connect, "h", 80.0, {
        resolve = function() return { { address = "10.0.0.1", family = "inet" } } end,
        connect = function(_, port) error(("port %s"):format(math.type(port)), 0) end,
      }))
    end)
    assert.same({ "port integer" }, err.errors)
  end)

  -- An outer cancel at 0.5 s; the first branch's cleanup raises then, the
  -- second finishes a shielded second later and returns.
  local function win_after_fail(policy)
    return support.vrun(function()
      local r
      corral.group(function(g)
        g:spawn(function() corral.sleep(0.5); g:cancel("outer") end)
        r = table.pack(pcall(policy))
      end)
      return r
    end)
  end
  local function shielded(v)
    return function()
      corral.scope(function() corral.sleep(1) end, { shield = true })
      return v
    end
  end

  it("race raises it even when another branch wins afterwards", function()
    local r = win_after_fail(function()
      return race({ fails_in_cleanup("cleanup failed"), shielded("b") })
    end)
    assert.is_false(r[1])
    assert.same({ "cleanup failed" }, r[2].errors)
  end)

  it("happy_eyeballs raises it and closes the stream that won afterwards", function()
    local closed = false
    local r = win_after_fail(function()
      return he.connect("h", 80, {
        delay = 0.1,
        resolve = function()
          return { { address = "A", family = "inet" }, { address = "B", family = "inet6" } }
        end,
        connect = function(a)
          if a == "A" then return fails_in_cleanup("A failed")() end
          return shielded({ close = function() closed = true end })()
        end,
      })
    end)
    assert.is_false(r[1])
    assert.same({ "A failed" }, r[2].errors)
    assert.is_true(closed)
  end)

  it("gather{settle = true} raises it rather than drop it with the results", function()
    local gather = require "corral.gather"
    local r = win_after_fail(function()
      return gather({ fails_in_cleanup("cleanup failed"), function() corral.sleep(10) end },
                    { settle = true })
    end)
    assert.is_false(r[1])
    assert.same({ "cleanup failed" }, r[2].errors)
  end)

  it("a failure just before the cancel is not taken for one during it", function()
    local r = support.vrun(function()
      local failed, out = corral.event(), nil
      corral.group(function(g)
        g:spawn(function() failed:wait(); g:cancel("after the failure") end)
        out = table.pack(pcall(race, {
          function() corral.sleep(1); failed:set(); error("before the cancel", 0) end,
          function() corral.sleep(10) end }))
      end)
      return out
    end)
    assert.is_false(r[1])
    assert.is_true(corral.is_cancelled(r[2]))
  end)

  it("a branch that cancelled its own task and then failed does not beat the winner", function()
    local r = support.vrun(function()
      return table.pack(pcall(race, {
        function() corral.current_task():cancel("self"); error("boom", 0) end,
        function() corral.sleep(0.01); return "b" end }))
    end)
    assert.same({ n = 3, true, 2, "b" }, r)
  end)
end)
