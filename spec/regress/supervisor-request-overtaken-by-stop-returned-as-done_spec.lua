-- sup:add and sup:restart waiting for their child's turn (behind a
-- one_for_all restart's backoff) returned normally when a sup:stop()
-- overtook them, though the child never ran. A child's own fn that asked for
-- its own restart (or removal, or the supervisor's stop) waited out its own
-- shutdown grace, since it sat in the request and never saw wait_stopping.
-- A period of 0 was taken: on the real clock no two restarts fall in the same
-- instant, so a crashing child restarted for ever. A second pass: a request
-- from a cancelled caller raised its Cancelled yet took effect, and a
-- transient child that had returned (its end not yet taken) was started
-- again by a one_for_all restart.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

-- What sup:<method>(arg) called at 1.5 says, with a stop at 2.
local function overtaken(method, arg)
  local said, ran = nil, false
  support.vrun(function()
    supervisor.run({ strategy = "one_for_all", backoff = { delay = 3 }, children = {
      { name = "a", fn = function(c)
          if c.restarts == 0 then corral.sleep(1); error("a failed") end
          c:wait_stopping()
        end },
      { name = "b", fn = function(c) ran = ran or corral.now() > 0; c:wait_stopping() end },
    }, on_failure = function() end }, function(sup)
      corral.group(function(g)
        g:spawn(function()
          corral.sleep(1.5)
          local ok, err = pcall(sup[method], sup, arg)
          said = { ok, err, corral.now() }
        end)
        g:spawn(function() corral.sleep(2); sup:stop() end)
      end)
    end)
  end)
  return said, ran
end

describe("regression: a supervisor request overtaken by a stop", function()
  it("sup:add raises that the supervisor is stopping", function()
    local said, ran = overtaken("add", { name = "x", fn = function() error("x ran") end })
    assert.same({ false, "supervisor:add: the supervisor is stopping", 2 }, said)
    assert.is_false(ran)
  end)

  it("sup:restart raises that the supervisor is stopping", function()
    local said, ran = overtaken("restart", "b")
    assert.same({ false, "supervisor:restart: the supervisor is stopping", 2 }, said)
    assert.is_false(ran)
  end)
end)

describe("regression: a child asking for its own restart or stop", function()
  it("is restarted at once, not after its shutdown grace", function()
    local starts = {}
    support.vrun(function()
      local S
      supervisor.run({ children = {
        { name = "a", shutdown = 30, fn = function(c)
            starts[#starts + 1] = corral.now()
            if c.restarts == 0 then corral.sleep(1); S:restart("a") end
            c:wait_stopping()
          end },
      } }, function(sup) S = sup; corral.sleep(100); sup:stop() end)
    end)
    assert.same({ 0, 1 }, starts)
  end)

  it("stops the supervisor at once", function()
    local t = support.vrun(function()
      local S
      supervisor.run({ children = {
        { name = "a", shutdown = 30, fn = function() corral.sleep(1); S:stop() end },
      } }, function(sup) S = sup end)
      return corral.now()
    end)
    assert.equal(1, t)
  end)
end)

describe("regression: a period of 0", function()
  it("is refused", function()
    support.vrun(function()
      support.assert_arg_error(1, "supervisor.run", "period must be a number > 0", function()
        supervisor.run({ period = 0, children = {} })
      end)
    end)
  end)
end)

describe("regression: a supervisor and children that ended or callers that gave up", function()
  it("a request from a cancelled caller is not made", function()
    local said, children = {}, nil
    support.vrun(function()
      supervisor.run({ children = { { name = "a", fn = function(c) c:wait_stopping() end } } },
        function(sup)
          corral.scope(function(s)
            s:cancel("gave up")
            said[1] = pcall(sup.add, sup, { name = "b", fn = function(c) c:wait_stopping() end })
            said[2] = pcall(sup.remove, sup, "a")
            said[3] = pcall(sup.stop, sup)
          end)
          corral.sleep(1)                 -- the manager takes whatever was asked
          children = sup:children()
          sup:stop()
        end)
    end)
    assert.same({ false, false, false }, said)
    assert.same({ { name = "a", status = "running", restarts = 0 } }, children)
  end)

  it("a transient child that returned is not started again by a one_for_all restart", function()
    local starts = 0
    support.vrun(function()
      supervisor.run({ strategy = "one_for_all", children = {
        { name = "x", shutdown = 2, fn = function(c) c:wait_stopping(); corral.sleep(10) end },
        { name = "t", restart = "transient", fn = function()
            starts = starts + 1
            if starts == 1 then corral.sleep(1.5) return end
            corral.sleep(100)
          end },
        { name = "f", fn = function(c)
            if c.restarts == 0 then corral.sleep(1); error("f failed") end
            corral.sleep(100)
          end },
      } }, function(sup) corral.sleep(0.5); sup:restart("x"); corral.sleep(5); sup:stop() end)
    end)
    assert.equal(1, starts)
  end)
end)
