-- A child added, or restarted by hand, while a rest_for_one (or one_for_all)
-- restart waited out its backoff started at once, before the children earlier
-- in start order: the new instance did not join the chain of the pending
-- restart. With db failing at 1 and restarting at 2, an api added at 1.5 ran
-- while db was down. Every start now joins the one chain of pending instances.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

-- db fails at 1 and, with cache after it, restarts at 2 (backoff 1). body(sup,
-- up) runs at 1.5; up.db says whether db is running.
local function during_backoff(log, body)
  local up = {}
  local function starts(name)
    return function(child)
      log:stamp(("%s start#%d db=%s"):format(name, child.restarts, up.db and "up" or "down"))
      child:wait_stopping()
    end
  end
  supervisor.run({ strategy = "rest_for_one", backoff = { delay = 1 }, children = {
    { name = "db", fn = function(child)
      up.db = true
      local _ <close> = support.closer(function() up.db = false end)
      log:stamp("db start#" .. child.restarts)
      if child.restarts == 0 then corral.sleep(1); error("db lost its disk", 0) end
      child:wait_stopping()
    end },
    { name = "cache", fn = starts("cache") },
  } }, function(sup)
    corral.sleep(1.5)
    body(sup, starts)
    sup:stop()
  end)
end

describe("regression: a start requested during a rest_for_one restart's backoff", function()
  it("sup:add starts the child after the restarted ones", function()
    local log = support.log()
    support.vrun(function()
      during_backoff(log, function(sup, starts)
        sup:add({ name = "api", fn = starts("api") })
        log:stamp("added")
      end)
    end)
    assert.same({ "db start#0@0", "cache start#0 db=up@0",
      "db start#1@2", "cache start#1 db=up@2", "api start#0 db=up@2", "added@2" }, log.items)
  end)

  it("sup:restart starts the child in its turn, after the children before it", function()
    local log = support.log()
    support.vrun(function()
      during_backoff(log, function(sup)
        sup:restart("cache")
        log:stamp("restarted")
      end)
    end)
    -- (the manual restart takes the place of the pending one, which had not
    -- begun: cache starts once more, and that is one restart, not two)
    assert.same({ "db start#0@0", "cache start#0 db=up@0",
      "db start#1@2", "cache start#1 db=up@2", "restarted@2" }, log.items)
  end)
end)
