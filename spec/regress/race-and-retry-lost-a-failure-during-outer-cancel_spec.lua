-- race, happy_eyeballs and retry, cancelled from outside while a branch or an
-- attempt turned its Cancelled into an error (its cleanup raised), returned
-- as if nothing had failed: race and happy_eyeballs kept the failure in a
-- list they only raise when no branch wins, and retry called on_retry for a
-- retry that could not happen, then raised the Cancelled. The failure is now
-- raised (an ErrorGroup for race and happy_eyeballs, the attempt's error for
-- retry), as a group raises a child's error while it is cancelled.
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
end)
