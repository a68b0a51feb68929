-- testing.async turns a group's busted failure into that failure and lists
-- the group's other failures after it. The list showed a pending as a bare
-- message, a table error as "table: 0x..." and a Timeout with nothing to say
-- where either came from.
local corral = require "corral"
local testing = require "corral.testing"

describe("the others listed after a child's assertion failure", function()
  it("mark a pending and show where a table error or a Timeout was raised", function()
    local ok, err = pcall(testing.async(function()
      corral.group(function(g)
        g:spawn({ function() pending("later") end, name = "todo" })
        g:spawn({ function() assert.equal(1, 2) end, name = "check" })
        g:spawn({ function() error({ code = 5 }) end, name = "tbl" })
        g:spawn({ function() corral.fail_after(1, corral.sleep, 5) end, name = "slow" })
      end, { defer_errors = true })
    end))
    assert.is_false(ok)
    local m = err.message
    assert.matches("(failed in task check)", m, 1, true)
    assert.matches("\n  [todo] pending: later\n", m, 1, true)
    assert.matches("\n  %[tbl%] {\n      code = 5\n    }\n    stack traceback:\n.-others%-list[^\n]-:14:", m)
    assert.matches("\n  %[slow%] Timeout: [^\n]*\n    stack traceback:\n.-others%-list[^\n]-:15:", m)
  end)
end)
