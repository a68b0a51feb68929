-- t:traceback() of a task that had not started yet (spawned this turn, or
-- queued behind its group's limit) returned "stack traceback:" and nothing
-- under it, as if the task waited nowhere. It now returns nothing, as for a
-- task that finished.
local corral = require "corral"
local support = require "support"

describe("regression: the traceback of a task that has not started", function()
  it("is nothing, then where it waits once it runs", function()
    local before, waiting, queued, queued_status
    support.vrun(function()
      corral.group(function(g)
        local t = g:spawn(function() corral.sleep(1) end)
        before = table.pack(t:traceback())
        corral.sleep(0.5)
        waiting = t:traceback()
      end)
      corral.group(function(g)
        g:spawn(function() corral.sleep(1) end)
        local q = g:spawn(function() end)
        corral.sleep(0.5)
        queued_status, queued = q.status, table.pack(q:traceback())
      end, { limit = 1 })
    end)
    assert.equal(0, before.n)
    assert.truthy(waiting:find("in function 'corral.sleep'", 1, true))
    assert.equal("scheduled", queued_status)
    assert.equal(0, queued.n)
  end)
end)
