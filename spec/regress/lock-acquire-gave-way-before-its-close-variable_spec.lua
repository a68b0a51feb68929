-- spec/regress/lock-acquire-gave-way-before-its-close-variable_spec.lua
--
-- Broke (0.21 before release, found by a verifier): a lock's acquire that
-- did not have to wait gave way after taking the lock, so the documented
-- `l:acquire(); local _ <close> = l` had a yield between the two, and a
-- coroutine.close from outside landing there ended the task with the lock
-- held and no <close> yet to give it back. A lock now gives way before it is
-- taken. Also: a run with seed 0 gave way like an unseeded one (its PRNG
-- state starts at 0), so it did not replay.
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local function busy(ms)
  local t = os.clock() + ms / 1000
  while os.clock() < t do end
end

describe("regression: a lock's acquire that gives way #fifo", function()
  it("leaves no yield between the lock taken and its <close>", function()
    local l = corral.lock()
    pcall(corral.run, function()
      corral.group(function(g)
        local a = g:spawn(function()
          busy(12)                          -- the pass's 10 ms are up
          l:acquire(); local _ <close> = l
          corral.checkpoint()
        end)
        g:spawn(function() raw_close(support.task_coroutine(a)) end)
      end)
    end)
    assert.is_false(l.locked)
  end)

  it("raises a Cancelled that came while it gave way, nothing taken", function()
    local l, err = corral.lock(), nil
    corral.run(function()
      corral.group(function(g)
        local a = g:spawn(function()
          busy(12)
          local ok, e = pcall(l.acquire, l)
          err = not ok and e
        end)
        g:spawn(function() a:cancel() end)
      end)
    end)
    assert.is_true(corral.is_cancelled(err), tostring(err))
    assert.is_false(l.locked)
  end)
end)

describe("regression: seed 0", function()
  it("never gives way, as any seed", function()
    local function order()
      local out = {}
      corral.run(function()
        local ch = corral.channel(100)
        corral.group(function(g)
          g:spawn(function() out[#out + 1] = "B" end)
          for i = 1, 12 do ch:send(i) end
          for _ = 1, 12 do out[#out + 1] = ch:recv(); busy(1.3) end
        end)
      end, { seed = 0 })
      return table.concat(out, " ")
    end
    assert.equal("1 2 3 4 5 6 7 8 9 10 11 12 B", order())
  end)
end)
