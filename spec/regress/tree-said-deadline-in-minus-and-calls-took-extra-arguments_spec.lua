-- The tree showed a deadline that passed while its task ran without a
-- cancellation point as "deadline in -0.261s"; corral.tree(opts, extra),
-- corral.debug_stats(x) and testing.stream_pair(opts, x) dropped the extra
-- argument where every other call refuses it.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

describe("regression: the tree's passed deadline and calls taking extra arguments", function()
  it("says a deadline passed, and how long ago, without firing it", function()
    -- real time: the virtual clock cannot pass a deadline without a checkpoint
    local text
    local t0 = os.clock()
    corral.run(function()
      corral.move_on_after(0.01, function()
        while os.clock() - t0 < 0.05 do end               -- past it, no checkpoint
        text = corral.tree()
      end)
    end)
    assert.matches("deadline passed %d+%.%d+s ago", text)
    assert.is_nil(text:find("deadline in %-"))
    assert.is_nil(text:find("cancelled"))
  end)

  it("refuses arguments past the last", function()
    support.vrun(function()
      local ok, err = pcall(corral.tree, nil, 1)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'corral.tree' %(no argument expected%)", err)
      ok, err = pcall(corral.debug_stats, {})
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'corral.debug_stats' %(no argument expected%)", err)
      ok, err = pcall(testing.stream_pair, { max_chunk = 2 }, true)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'corral.testing.stream_pair' %(no argument expected%)", err)
    end)
  end)
end)
