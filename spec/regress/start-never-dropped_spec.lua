-- g:start from a cancelled scope, or into a cancelled group, used to raise at
-- once without spawning: the child's setup and cleanup never ran.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function child(log)
  return function(ready)
    log:add("setup")
    local _ <close> = support.closer(function() log:add("cleanup") end)
    corral.checkpoint()                 -- the first cancellation point
    ready("value")
    log:add("after ready")
  end
end

describe("regression: g:start is never silently dropped", function()
  it("from a cancelled scope: the child runs to its first cancellation point, start raises the caller's Cancelled", function()
    local log, e = support.log(), nil
    vrun(function()
      corral.group(function(g)
        corral.scope(function(s)
          s:cancel("caller")
          local ok, err = pcall(g.start, g, child(log))
          e = err
          error(err, 0)
        end)
      end)
    end)
    assert.same({ "setup", "cleanup" }, log.items)
    assert.is_true(corral.is_cancelled(e))
    assert.equal("caller", e.reason)
  end)

  it("into a cancelled group from its body: start raises the group's Cancelled, which the group absorbs", function()
    local log, g_seen = support.log(), nil
    vrun(function()
      corral.group(function(g)
        g_seen = g
        g:cancel("group")
        g:start(child(log))
        log:add("not reached")
      end)
    end)
    assert.same({ "setup", "cleanup" }, log.items)
    assert.is_true(g_seen.cancel_caught)
  end)

  it("into a cancelled group from outside it: start says the child was cancelled before ready", function()
    local log = support.log()
    vrun(function()
      local g
      corral.group(function(outer)
        outer:spawn(function()
          corral.group(function(inner) g = inner; corral.sleep(math.huge) end)
        end)
        corral.sleep(1)
        g:cancel("inner group")
        local ok, err = pcall(g.start, g, child(log))
        assert.is_false(ok)
        assert.matches("cancelled before it called ready", err)
      end)
    end)
    assert.same({ "setup", "cleanup" }, log.items)
  end)

  -- The cancel came first, so nothing was delivered before it: ready()
  -- leaves the child under the caller's cancelled scope (Trio's started()
  -- in a cancelled nursery) and start raises the caller's Cancelled. Before,
  -- start returned the value and the child escaped the cancel into its group.
  it("a child that calls ready while its caller is cancelled does not escape the cancel", function()
    local ok, err, log = nil, nil, {}
    vrun(function()
      corral.group(function(g)
        corral.scope(function(s)
          s:cancel()
          ok, err = pcall(g.start, g, function(ready)
            ready("early")
            log[#log + 1] = "ready returned"
            corral.sleep(1)
            log[#log + 1] = "escaped"
          end)
        end)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_cancelled(err))
    assert.same({ "ready returned" }, log)
  end)

  it("a start value delivered before the caller's cancel is returned (delivered wins)", function()
    local got, after
    vrun(function()
      corral.group(function(g)
        corral.scope(function(s)
          got = g:start(function(ready)
            ready("early")
            s:cancel()          -- the caller is cancelled after the hand-off
          end)
          after = select(2, pcall(corral.checkpoint))
        end)
      end)
    end)
    assert.equal("early", got)
    assert.is_true(corral.is_cancelled(after))
  end)
end)
