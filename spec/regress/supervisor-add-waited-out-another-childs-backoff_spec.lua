-- Once every start joined one chain (so that none overtakes a restart still
-- waiting out its backoff), a one_for_one restart in a 30 s backoff held up
-- sup:add of an unrelated child for 30 s. A one_for_one restart restarts one
-- child, which no later start depends on: it joins the chain when its
-- backoff is over. one_for_all and rest_for_one restarts still hold the line.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

local function add_during_backoff(strategy)
  local started_at, returned_at
  support.vrun(function()
    supervisor.run({
      strategy = strategy, intensity = 10, period = 100,
      backoff = { delay = 30, factor = 1, max_delay = 30 },
      children = { { name = "flaky", fn = function() corral.sleep(1); error("x", 0) end } },
      on_restart = function() end,
    }, function(sup)
      corral.sleep(2)                    -- flaky failed at 1: restarts at 31
      sup:add({ name = "new", fn = function()
        started_at = started_at or corral.now()
        corral.sleep(100)
      end })
      returned_at = corral.now()
      sup:stop()
    end)
  end)
  return started_at, returned_at
end

describe("regression: sup:add during another child's restart backoff", function()
  it("is not held up under one_for_one", function()
    local started, returned = add_during_backoff("one_for_one")
    assert.equal(2, started)
    assert.equal(2, returned)
  end)

  it("still waits for a rest_for_one restart that comes before it", function()
    local started, returned = add_during_backoff("rest_for_one")
    assert.equal(31, started)
    assert.equal(31, returned)
  end)
end)
