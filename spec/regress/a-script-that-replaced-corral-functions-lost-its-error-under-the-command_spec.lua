-- The command looked corral's functions up in the module table when the
-- script was over (corral.is_cancelled, is_error_group, _trace_failed,
-- _stuck_tree; and in C, at os.exit, _trace_flush and _kill_children): a
-- script that had replaced or removed one of them (a mock, a sandbox that
-- strips the module) lost its own error, replaced by
-- "corral.cli:390: attempt to call a nil value (field 'is_cancelled')", and
-- a script that succeeded exited 1. The command keeps the functions it
-- uses as they were when it started, as it keeps the standard library's.
local support = require "support"

describe("regression: a script that replaced corral's functions lost its error under the command", function()
  it("its own error is printed, not the command's", function()
    local code, text = support.command_stderr([[
local corral = require "corral"
corral.is_cancelled, corral.is_error_group = nil, nil
corral._stuck_tree, corral._describe = nil, nil
error("the script's own error")
]])
    assert.equal(1, code)
    assert.matches("^corral: [^\n]*: the script's own error\n", text)
  end)

  it("an ErrorGroup is still rendered as a tree", function()
    local code, text = support.command_stderr([[
local corral = require "corral"
corral.group(function(g)
  g:spawn({ function() error("worker failed") end, name = "worker" })
  corral.is_error_group, corral.is_cancelled = nil, nil
end)
]])
    assert.equal(1, code)
    assert.matches("^corral: ErrorGroup: 1 failure\n", text)
    assert.matches("%[worker%] [^\n]*worker failed", text)
  end)

  it("a script that succeeds exits 0, whatever it did to corral._trace_failed", function()
    for _, ending in ipairs({ "", "os.exit(0)" }) do
      local code, text = support.command_stderr([[
local corral = require "corral"
corral._trace_failed = function() return true end
corral._trace_flush = function() error("replaced") end
corral._kill_children = nil
]] .. ending)
      assert.equal("", text)
      assert.equal(0, code, ending)
    end
  end)
end)
