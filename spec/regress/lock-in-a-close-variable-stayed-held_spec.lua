-- A lock in a <close> variable was accepted but never released when its
-- block ended (normally, by error, by cancel): only a foreign
-- coroutine.close released it, and the next waiter deadlocked ("held by
-- task-3 (ended)"). The block's end now releases a lock the task holds.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function next_waiter_gets(mu)
  local got
  corral.group(function(g)
    g:spawn(function() got = mu:with(function() return "acquired" end) end)
  end)
  return got
end

describe("regression: a lock in a <close> variable", function()
  it("is released when the block ends normally", function()
    vrun(function()
      local mu = corral.lock()
      do
        mu:acquire()
        local _ <close> = mu
        assert.is_true(mu.locked)
      end
      assert.is_false(mu.locked)
      assert.equal("acquired", next_waiter_gets(mu))
    end)
  end)

  it("is released when the block ends by an error or a cancel", function()
    vrun(function()
      local mu = corral.lock()
      local ok = pcall(function()
        mu:acquire()
        local _ <close> = mu
        error("boom")
      end)
      assert.is_false(ok)
      assert.is_false(mu.locked)
      corral.move_on_after(1, function()
        mu:acquire()
        local _ <close> = mu
        corral.sleep(math.huge)
      end)
      assert.is_false(mu.locked)
      assert.equal("acquired", next_waiter_gets(mu))
    end)
  end)

  it("leaves alone a lock the task does not hold", function()
    vrun(function()
      local mu = corral.lock()
      corral.group(function(g)
        local held = corral.event()
        g:spawn(function() mu:acquire(); held:set(); corral.sleep(1); mu:release() end)
        held:wait()
        do local _ <close> = mu end      -- held by the other task
        assert.is_true(mu.locked)
      end)
      assert.is_false(mu.locked)
    end)
  end)

  it("a method called with a dot names the type it takes", function()
    local mu = corral.lock()
    local ok, err = pcall(mu.acquire)
    assert.is_false(ok)
    assert.matches("corral.Lock expected", err, 1, true)
  end)
end)
