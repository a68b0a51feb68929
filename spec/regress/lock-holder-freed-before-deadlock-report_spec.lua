-- A lock kept the pointer of the task that last acquired it. When that task
-- ended holding the lock and its memory was collected, the deadlock report
-- (and corral.tree) read the holder's name through the stale pointer, and
-- lock:release compared against it. The engine now keeps the holder's id.
local corral = require "corral"
local support = require "support"

-- (Since a holder that ends breaks the lock, the acquire raises at once,
-- naming the holder by id, instead of waiting into a deadlock report.)
describe("regression: a lock whose holder ended and was collected", function()
  it("is reported as held by the ended task, without touching its memory", function()
    local leaver
    local ok, err = pcall(support.vrun, function()
      local mu = corral.lock()
      corral.group(function(g)
        leaver = g:spawn({ function() mu:acquire() end, name = "leaver" }).id
      end)
      for _ = 1, 4 do collectgarbage() end
      local junk = {}
      for i = 1, 2000 do junk[i] = corral.event() end
      mu:acquire()                         -- nobody will ever release it
    end)
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("every task was blocked"))   -- no deadlock
    assert.matches("lock:acquire: the lock is broken: the task that held it %(#"
                   .. leaver .. "%) ended without releasing it", tostring(err))
  end)

  it("still names a live holder", function()
    local held_by
    support.vrun(function()
      local mu = corral.lock()
      corral.group(function(g)
        g:spawn({ function() mu:acquire(); corral.sleep(2); mu:release() end, name = "holder" })
        g:spawn({ function() corral.sleep(1); mu:acquire(); mu:release() end, name = "waiter" })
        corral.sleep(1.5)
        local group = corral.tree({ format = "table" }).children[1]
        for _, node in ipairs(group.children) do
          if node.name == "waiter" then held_by = node.wait.held_by end
        end
      end)
    end)
    assert.equal("holder", held_by)
  end)
end)
