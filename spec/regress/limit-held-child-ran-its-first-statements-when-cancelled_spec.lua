-- History: a child held back by its group's limit was let go past the limit
-- when the group was cancelled, to run up to its first cancellation point;
-- a user's job queue ran the first statements of every queued job on
-- Ctrl-C. That was taken for a bug (0.14.0), and for a while a child the
-- limit held back and cancelled before it started never ran its function.
-- The contract says otherwise (API.md §3): no spawn is silently dropped, a
-- child spawned into a cancelled group runs up to its first cancellation
-- point so that its setup and cleanup run, and the limit holds ("at most
-- this many children run at once"). So a held child, cancelled, keeps
-- waiting for its slot in FIFO order, then runs up to its first
-- cancellation point, one slot at a time; what used to be the bug (several
-- running at once past the limit) stays fixed. A job that must not begin
-- once its group is cancelled checks for it first (corral.checkpoint()).
local corral = require "corral"
local support = require "support"

describe("regression: a child of a group with a limit, cancelled before it started", function()
  it("runs up to its first cancellation point once it has its slot, one at a time", function()
    local ran, after, inside, most = {}, {}, 0, 0
    support.vrun(function()
      corral.group(function(g)
        for i = 1, 4 do
          g:spawn(function()
            inside = inside + 1
            most = math.max(most, inside)
            local _ <close> = setmetatable({}, { __close = function() inside = inside - 1 end })
            ran[#ran + 1] = i
            corral.sleep(1)
            after[#after + 1] = i
          end)
        end
        corral.sleep(0.1)
        g:cancel("shutdown")
      end, { limit = 1 })
      assert.equal(0.1, corral.now())
    end)
    assert.same({ 1, 2, 3, 4 }, ran)      -- in spawn order
    assert.same({}, after)                -- none past its first cancellation point
    assert.equal(1, most)                 -- never past the limit
  end)

  it("runs each spawned into the cancelled group in turn, up to its first cancellation point", function()
    local ran, after = {}, {}
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        local ts = {}
        for i = 1, 3 do
          ts[i] = g:spawn(function() ran[#ran + 1] = i; corral.checkpoint(); after[#after + 1] = i end)
        end
        for i = 1, 3 do
          local ok, e = ts[i]:wait()
          assert.is_false(ok)
          assert.is_true(corral.is_cancelled(e))
        end
      end, { limit = 1 })
    end)
    assert.same({ 1, 2, 3 }, ran)
    assert.same({}, after)
  end)

  -- The API's rule for a spawn into a cancelled group (it runs up to its
  -- first cancellation point) where the limit does not hold it back.
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
