-- A task name went raw into a rendered ErrorGroup: a newline in it forged a
-- line of the tree (a failure that never happened), and an escape sequence
-- reached the terminal that printed the error. Names are escaped as the task
-- tree escapes them.
local corral = require "corral"
local support = require "support"

describe("regression: a task name in a rendered ErrorGroup", function()
  it("stays on its line, with control characters escaped", function()
    local _, err = support.vrun(function()
      return pcall(corral.group, function(g)
        g:spawn({ function() error("real", 0) end, name = "w\n`- [db] fake\27[2J\t!" })
      end)
    end)
    local text = tostring(err)
    assert.equal("ErrorGroup: 1 failure\n`- [w\\n`- [db] fake\\027[2J\\t!] real", text)
    assert.equal("w\n`- [db] fake\27[2J\t!", err.tasks[1])   -- the name itself is kept
  end)
end)
