-- corral.tree() named the signal a task waits for from a table of a dozen
-- common names, and by its number otherwise: a task in
-- corral.signal("SIGRTMIN+3") read `waiting on signal 37`, one in
-- corral.signal("SIGABRT") `signal 6`, although corral.signal returns
-- "SIGRTMIN+3" and "SIGABRT", tostring(p) says `killed by SIGABRT`, and
-- debugging.md promises `signal SIGNAME`. The tree now uses the names
-- corral.signal gives, in its text and in the table format.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local function find(node, name)
  if node.name == name then return node end
  for _, c in ipairs(node.children or {}) do
    local n = find(c, name)
    if n then return n end
  end
end

describe("regression: the tree named a waited signal by its number", function()
  it("names every signal as corral.signal returns it", function()
    local text, tree
    support.vrun(function()
      corral.group(function(g)
        g:spawn({ function() corral.signal("SIGRTMIN+3") end, name = "rt" })
        g:spawn({ function() corral.signal("IOT") end, name = "abrt" })
        g:spawn({ function() corral.signal("SIGIO") end, name = "io" })
        g:spawn({ function() corral.signal("SIGUSR2") end, name = "usr2" })
        testing.wait_all_tasks_blocked()     -- every waiter in its wait
        text, tree = corral.tree(), corral.tree({ format = "table" })
        g:cancel()
      end)
    end)
    assert.matches("task rt #%d+ waiting on signal SIGRTMIN%+3 at", text)
    assert.matches("task abrt #%d+ waiting on signal SIGABRT at", text)
    assert.matches("task io #%d+ waiting on signal SIGIO at", text)
    assert.matches("task usr2 #%d+ waiting on signal SIGUSR2 at", text)
    assert.equal("SIGRTMIN+3", find(tree, "rt").wait.signal)
    assert.equal("SIGABRT", find(tree, "abrt").wait.signal)
    assert.equal("signal SIGIO", find(tree, "io").wait.text)
  end)
end)
