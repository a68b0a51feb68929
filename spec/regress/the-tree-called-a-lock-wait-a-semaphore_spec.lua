-- corral.tree{format = "table"} gave a task waiting on a lock
-- wait.kind = "semaphore" (the engine's lock is a semaphore of one), while its
-- `what` and `text` said lock: a tool checking kind == "lock" never matched.
local corral = require "corral"
local support = require "support"

describe("regression: the tree called a lock wait a semaphore", function()
  it("gives kind 'lock' for a lock and 'semaphore' for a semaphore", function()
    local lockw, semw
    support.vrun(function()
      local lock, sem = corral.lock(), corral.semaphore(2)
      corral.group(function(g)
        lock:acquire()
        sem:acquire(); sem:acquire()
        g:spawn({ function() lock:acquire() end, name = "on-lock" })
        g:spawn({ function() sem:acquire() end, name = "on-sem" })
        corral.sleep(1)
        local function find(node, name)
          if node.name == name then return node end
          for _, c in ipairs(node.children or {}) do
            local n = find(c, name)
            if n then return n end
          end
        end
        local tree = corral.tree({ format = "table" })
        lockw, semw = find(tree, "on-lock").wait, find(tree, "on-sem").wait
        g:cancel()
      end)
    end)
    assert.equal("lock", lockw.kind)
    assert.equal("lock", lockw.what)
    assert.equal("semaphore", semw.kind)
  end)
end)
