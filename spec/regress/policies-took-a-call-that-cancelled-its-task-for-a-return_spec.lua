-- A call that cancels its own task (t:cancel) and returns without meeting a
-- cancellation point ends its task "cancelled" (0.19.0), but the policies
-- read the call's return: race made such a branch its winner (and returned
-- when every branch did so), gather and map kept its results, gather{settle}
-- gave {ok = true}, and a supervisor said its child "returned".
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local supervisor = require "corral.supervisor"
local happy_eyeballs = require "corral.happy_eyeballs"
local testing = require "corral.testing"
local support = require "support"
local vrun = support.vrun

local function self_cancel(v)
  return function()
    corral.current_task():cancel("self")
    return v
  end
end

describe("regression: policies took a call that cancelled its task for a return", function()
  it("race: such a branch does not win, and when every branch does so race raises", function()
    local won, all
    vrun(function()
      won = table.pack(race({ self_cancel("one"), function() corral.sleep(1); return "two" end }))
      all = table.pack(pcall(race, { self_cancel("one"), self_cancel("two") }))
    end)
    assert.same({ n = 2, 2, "two" }, won)
    assert.is_false(all[1])
    assert.matches("race: no branch returned %(every branch was cancelled%)", tostring(all[2]))
  end)

  it("gather and map leave its entry nil; gather{settle} gives its Cancelled", function()
    local g, m, s
    vrun(function()
      g = gather({ self_cancel("a"), function() return "b" end })
      m = map(function(x)
        if x == 1 then corral.current_task():cancel("self") end
        return x * 10
      end, { 1, 2 })
      s = gather({ self_cancel("a") }, { settle = true })
    end)
    assert.is_nil(g[1])
    assert.same({ n = 1, "b" }, g[2])
    assert.is_nil(m[1])
    assert.equal(20, m[2])
    assert.is_false(s[1].ok)
    assert.is_true(corral.is_cancelled(s[1].err))
    assert.equal("self", s[1].err.reason)
  end)

  it("gather{settle} keeps a failure raised after the call cancelled its task", function()
    local r
    vrun(function()
      r = gather({ function()
        corral.current_task():cancel("self")
        error("the real failure", 0)
      end }, { settle = true })
    end)
    assert.is_false(r[1].ok)
    assert.equal("the real failure", r[1].err)
  end)

  it("happy_eyeballs closes the stream an attempt that cancelled its task returned", function()
    local ok, err = pcall(testing.run, function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        g:spawn(function() local s <close> = l:accept(); s:read() end)
        local r = table.pack(pcall(happy_eyeballs.connect, "localhost", l.port, {
          resolve = function() return { { address = "127.0.0.1", family = "inet" } } end,
          connect = function(a, p)
            local s = corral.tcp.connect(a, p)
            corral.current_task():cancel("self")
            return s
          end,
        }))
        assert(not r[1] and tostring(r[2]):find("every attempt was cancelled", 1, true), tostring(r[2]))
        g:cancel()
      end)
    end, { clock = "real" })
    assert.is_true(ok, tostring(err))       -- (testing.run raises for a leaked stream)
  end)

  it("supervisor: the child was cancelled, not returned", function()
    local ok, e = pcall(vrun, function()
      return supervisor.run({
        intensity = 1, period = 100,
        children = { { name = "w", fn = self_cancel("x") } },
      })
    end)
    assert.is_false(ok)
    local text = tostring(e.errors and e.errors[1] or e)
    assert.matches("supervisor: child 'w' was cancelled %(Cancelled: self", text)
  end)
end)
