-- The task tree's text kept a table on the stack above its luaL_Buffer
-- while it added a group's cancel (source, reason, canceller) and
-- failures: a line that outgrew the buffer's first block (a name or a
-- reason over about 1 KB) made the buffer take the table's slot, so the
-- text read freed memory (garbage in the line, a crash, a double free
-- under ASan), and a long reason raised "attempt to index a _UBOX* value".
-- corral.tree(), the deadlock report and SIGUSR1's tree all use it.
local corral = require "corral"
local support = require "support"

local LONG = string.rep("F", 2000)

describe("regression: a long name or reason broke the task tree", function()
  it("a long cancel reason", function()
    support.vrun(function()
      corral.scope(function(s)
        s:cancel(string.rep("r", 2000))
        local ok, text = pcall(corral.tree)
        assert.is_true(ok, text)
        assert.matches("scope #%d+ %(cancelled: explicit \"" .. string.rep("r", 2000) .. "\" by task%-1%)", text)
      end)
    end)
  end)

  it("a canceller with a long name", function()
    support.vrun(function()
      corral.group(function(g)
        g:spawn({ function()
          g:cancel("why")
          local text = corral.tree()
          assert.matches("group #%d+ %(cancelled: explicit \"why\" by " .. LONG .. "%)", text)
        end, name = LONG })
      end)
    end)
  end)

  it("failures of children with long names, in the tree and in the deadlock report", function()
    local ok, err = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn({ function() error("boom", 0) end, name = LONG })
        g:spawn({ function() error("bang", 0) end, name = LONG .. "2" })
        g:spawn(function()
          corral.sleep(1)                      -- (both have failed, in any order)
          local text = corral.tree()
          assert.matches("(failures: [" .. LONG, text, 1, true)
          assert.matches("[" .. LONG .. "] boom", text, 1, true)
          assert.matches("[" .. LONG .. "2] bang", text, 1, true)
          corral.event():wait()
        end)
      end, { defer_errors = true })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("[" .. LONG .. "] boom", err.message, 1, true)
    assert.matches("[" .. LONG .. "2] bang", err.message, 1, true)
  end)
end)
