-- sup:restart(name) returned, as if the child had started again, when a
-- sup:remove of that child was asked while the restart wound the old
-- instance down: the manager answers a restart before the new instance
-- begins, the remove came next and stopped that instance before its fn ran,
-- and the restart, seeing its child ended for good, took it for a temporary
-- child a one_for_all restart had forgotten. OTP, which handles one call at
-- a time, answers such a restart_child {error, not_found}: the restart now
-- raises what a restart of an unknown name raises, saying why. An add
-- overtaken by a remove the same way raises too. Two concurrent restarts of
-- one child, and a restart racing a stop, already did what the docs say.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

-- Child x takes 0.5 s to wind down. Runs first(sup) and second(sup)
-- side by side (second asked while first is handled), each in a pcall.
-- Returns their results, how many times an fn was called, and the children.
local function side_by_side(first, second)
  local r, calls, children = {}, 0, nil
  support.vrun(function()
    supervisor.run({ children = { { name = "x", fn = function(c)
      calls = calls + 1
      c:wait_stopping()
      corral.sleep(0.5)
    end } } }, function(sup)
      corral.group(function(g)
        g:spawn(function() r[1] = table.pack(pcall(first, sup)) end)
        g:spawn(function() r[2] = table.pack(pcall(second, sup)) end)
      end)
      children = sup:children()
      sup:stop()
    end)
  end)
  return r, calls, children
end

local function restart(sup) return sup:restart("x") end

describe("regression: a restart overtaken by a remove", function()
  it("raises that the child is gone instead of returning", function()
    local r, calls, children = side_by_side(restart, function(sup) sup:remove("x") end)
    assert.is_false(r[1][1])
    support.assert_mentions(r[1][2],
      "supervisor:restart: no child named 'x' (it was removed before it restarted)")
    assert.is_true(r[2][1], tostring(r[2][2]))
    assert.equal(1, calls)
    assert.same({}, children)
  end)

  it("an add overtaken by a remove raises too", function()
    local child = { name = "y", fn = function(c) c:wait_stopping() end }
    local r = side_by_side(function(sup) sup:add(child) end, function(sup) sup:remove("y") end)
    assert.is_false(r[1][1])
    support.assert_mentions(r[1][2], "supervisor:add: child 'y' was removed before it started")
    assert.is_true(r[2][1], tostring(r[2][2]))
  end)

  it("two concurrent restarts both return, and the child runs again once", function()
    local r, calls, children = side_by_side(restart, restart)
    assert.is_true(r[1][1], tostring(r[1][2]))
    assert.is_true(r[2][1], tostring(r[2][2]))
    assert.equal(2, calls)
    assert.same({ { name = "x", status = "running", restarts = 1 } }, children)
  end)

  it("a restart overtaken by a stop raises that the supervisor is stopping", function()
    local r, calls = side_by_side(restart, function(sup) sup:stop() end)
    assert.is_false(r[1][1])
    support.assert_mentions(r[1][2], "supervisor:restart: the supervisor is stopping")
    assert.equal(1, calls)
  end)
end)
