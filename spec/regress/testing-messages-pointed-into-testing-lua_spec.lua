-- Two messages of corral.testing pointed into testing.lua instead of the
-- user's code: a leak found under each_seed (at each_seed's wrapper, not at
-- the user's function), and wait_all_tasks_blocked called outside a run.
-- A Trio-style cushion argument to wait_all_tasks_blocked was silently
-- ignored; it is now refused. A leaked process was "4 handles" with no
-- word of what they were.
local corral = require "corral"
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

describe("regression: corral.testing's messages", function()
  it("put each_seed's leak at the user's function", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(testing.each_seed, 2, function()
      return corral.tcp.listen("127.0.0.1", 0)
    end)
    assert.is_false(ok)
    assert.matches("^seed = 1: " .. SRC:gsub("%p", "%%%0") .. ":" .. line .. ": testing%.run: leaked",
                   tostring(err))
  end)

  it("put wait_all_tasks_blocked outside a run at the caller's line", function()
    local line
    local ok, err = pcall(function()
      line = debug.getinfo(1, "l").currentline + 1
      testing.wait_all_tasks_blocked()
    end)
    assert.is_false(ok)
    assert.equal(SRC .. ":" .. line .. ": testing.wait_all_tasks_blocked: called outside corral.run", err)
  end)

  it("refuse a cushion argument", function()
    testing.run(function()
      local ok, err = pcall(testing.wait_all_tasks_blocked, 0.02)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'corral%.testing%.wait_all_tasks_blocked' %(no argument expected", err)
    end)
  end)

  it("still return the Cancelled of a cancelled wait unchanged", function()
    testing.run(function()
      corral.scope(function(s)
        s:cancel("now")
        local ok, err = pcall(testing.wait_all_tasks_blocked)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(err))
        assert.equal("now", err.reason)
      end)
    end)
  end)

  it("name a leaked process and its pipes", function()
    local ok, err = pcall(testing.run, function()
      return corral.exec("sleep", { "5" }, { stdin = "pipe", stdout = "pipe", stderr = "pipe" })
    end)
    assert.is_false(ok)
    assert.matches("leaked 4 handles %(1 process, 3 TCP or pipe streams left open%)", err)
  end)
end)
