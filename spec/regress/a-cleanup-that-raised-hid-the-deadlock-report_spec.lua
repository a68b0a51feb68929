-- A deadlock whose cancel made a cleanup raise (a child that caught the
-- deadlock's Cancelled and failed, so its group failed, and the root):
-- corral.run raised that ErrorGroup alone, and the report of the deadlock,
-- the tree that says where every task was blocked, was gone. The run now
-- raises an ErrorGroup of the root's failure headed by the report.
local corral = require "corral"

local HEAD = "^corral%.run: deadlock: every task was blocked and nothing could wake them "
  .. "%(they were cancelled%), and the root failed as they unwound%. The tasks when it was found:\n"

describe("regression: a cleanup that raised hid the deadlock report", function()
  it("heads an ErrorGroup of the root's failure with the report and its tree", function()
    local ok, err = pcall(corral.run, function()
      local ev = corral.event()
      corral.group(function(g)
        g:spawn({ function()
          pcall(ev.wait, ev)
          error("cleanup failed", 0)
        end, name = "waiter" })
      end)
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.matches(HEAD, err.message)
    assert.matches("task waiter #%d+ waiting on event at [^\n]*:17$", err.message)
    assert.equal(1, #err)
    assert.equal("task-1", err.tasks[1])
    local inner = err.errors[1]                  -- the root's own error, as it was
    assert.is_true(corral.is_error_group(inner))
    assert.same({ "cleanup failed" }, inner.errors)
    local text = tostring(err)
    local tail = ":17\n`- [task-1] ErrorGroup: 1 failure\n   `- [waiter] cleanup failed"
    assert.equal(tail, text:sub(-#tail))
  end)

  it("keeps a table the root raised in its own cleanup", function()
    local e = { code = 3 }
    local ok, err = pcall(corral.run, function()
      local _ <close> = setmetatable({}, { __close = function() error(e) end })
      corral.event():wait()
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.matches(HEAD, err.message)
    assert.equal(e, err.errors[1])
  end)

  it("raises the report alone when the root ended cancelled", function()
    local ok, err = pcall(corral.run, function() corral.event():wait() end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("^corral%.run: deadlock: every task was blocked and nothing could wake them "
      .. "%(they were cancelled%)%. The tasks when it was found:\n", err)
  end)
end)
