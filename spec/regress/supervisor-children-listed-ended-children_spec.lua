-- sup:children() listed children that had ended. Once supervisor.run had
-- returned from an outer cancellation (or a hook's failure), it still listed
-- every child as "running", though the docs say it lists "each child not
-- ended for good" and it is empty after a stop or a give-up. And a child that
-- ended while the manager was busy (waiting out another child's shutdown
-- grace) was listed as "running" until the manager got to its end, instead of
-- "restarting", or not at all when it had ended for good.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

local function serve(child) child:wait_stopping() end

-- A child that ignores its stop: removing it takes its whole grace (5 s).
local function deaf() corral.sleep(math.huge) end

local function statuses(sup)
  local list = {}
  for _, c in ipairs(sup:children()) do list[#list + 1] = c.name .. ":" .. c.status end
  return list
end

describe("regression: sup:children() once supervisor.run has returned", function()
  it("is empty after an outer cancellation", function()
    local sup
    support.vrun(function()
      corral.move_on_after(1, function()
        supervisor.run({ children = { { name = "a", fn = serve } } },
          function(s) sup = s; corral.sleep(math.huge) end)
      end)
    end)
    assert.same({}, sup:children())
  end)

  it("is empty after a hook's failure", function()
    local sup
    support.vrun(function()
      pcall(supervisor.run, { on_restart = function() error("hook broke", 0) end,
        children = { { name = "a", fn = serve },
                     { name = "x", fn = function() corral.sleep(1); error("x", 0) end } } },
        function(s) sup = s; corral.sleep(math.huge) end)
    end)
    assert.same({}, sup:children())
  end)
end)

describe("regression: a child that ended while the manager was busy", function()
  it("is listed as restarting, or not at all once ended for good", function()
    local seen
    support.vrun(function()
      supervisor.run({ children = {
        { name = "deaf", fn = deaf },
        { name = "p", fn = function(c) if c.restarts == 0 then corral.sleep(2); error("p", 0) end; serve(c) end },
        { name = "t", restart = "temporary", fn = function() corral.sleep(2) end },
      } }, function(sup)
        corral.group(function(g)
          g:spawn(function() corral.sleep(1); sup:remove("deaf") end)   -- busy 1 .. 6
          corral.sleep(3)
          seen = statuses(sup)
        end)
        sup:stop()
      end)
    end)
    assert.same({ "deaf:stopping", "p:restarting" }, seen)
  end)
end)
