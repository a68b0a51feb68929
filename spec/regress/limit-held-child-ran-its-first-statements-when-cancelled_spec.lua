-- A child held back by its group's limit ran its function up to its first
-- cancellation point when the group was cancelled, although it never got a
-- slot: a queued job's side effects ("delete the temp file") happened on
-- Ctrl-C. A child the limit held back, cancelled before it started, now
-- never runs its function, as if its slot were a semaphore acquired first.
-- A child the limit had room for, and a group without a limit, keep Trio's
-- rule: a child spawned into a cancelled group runs up to its first
-- cancellation point.
local corral = require "corral"
local support = require "support"

describe("regression: a child of a group with a limit, cancelled before it started", function()
  it("never runs its function", function()
    local ran = {}
    support.vrun(function()
      corral.group(function(g)
        for i = 1, 4 do
          g:spawn(function() ran[#ran + 1] = i; corral.sleep(1) end)
        end
        corral.sleep(0.1)
        g:cancel("shutdown")
      end, { limit = 1 })
    end)
    assert.same({ 1 }, ran)
  end)

  it("never runs it when spawned, past the limit, into the cancelled group", function()
    local ran = {}
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        local ts = {}
        for i = 1, 3 do ts[i] = g:spawn(function() ran[#ran + 1] = i end) end
        for i = 2, 3 do
          local ok, e = ts[i]:wait()
          assert.is_false(ok)
          assert.is_true(corral.is_cancelled(e))
        end
      end, { limit = 1 })
    end)
    assert.same({ 1 }, ran)
  end)

  -- The API's rule for a spawn into a cancelled group (it runs up to its
  -- first cancellation point) holds where the limit does not hold it back.
  it("runs one the limit has room for up to its first cancellation point", function()
    local ran, after = false, false
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        local t = g:spawn(function() ran = true; corral.checkpoint(); after = true end)
        local ok, e = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(e))
      end, { limit = 3 })
    end)
    assert.is_true(ran)
    assert.is_false(after)
  end)

  it("leaves a group without a limit as it was: the child runs to its first checkpoint", function()
    local ran = false
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        g:spawn(function() ran = true; corral.checkpoint() end)
      end)
    end)
    assert.is_true(ran)
  end)
end)
