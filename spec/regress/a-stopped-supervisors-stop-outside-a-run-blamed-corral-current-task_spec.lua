-- sup:stop() on a supervisor that had ended, called once its run was over
-- (a handle kept in a variable, a cleanup at the end of a script), raised
-- `supervisor.lua:904: corral.current_task: called outside corral.run`: a
-- call the user never made, at a line inside the library. Stopping a
-- stopped supervisor does nothing, as g:stop() on a group that has exited
-- does, also outside a run.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

describe("regression: a stopped supervisor's stop outside a run", function()
  it("does nothing, as a group's stop after its exit", function()
    local sup, g
    support.vrun(function()
      corral.group(function(x) g = x end)
      supervisor.run({ children = { { name = "c", fn = function(c) c:wait_stopping() end } } },
        function(s) sup = s; s:stop(0) end)
    end)
    assert.is_true(pcall(g.stop, g, 1))      -- the rule the supervisor follows
    local ok, err = pcall(sup.stop, sup, 0)
    assert.is_true(ok, err)
    ok, err = pcall(sup.stop, sup)
    assert.is_true(ok, err)
    assert.same({}, sup:children())
  end)

  it("still refuses a bad grace, outside a run too", function()
    local sup
    support.vrun(function()
      supervisor.run({ children = {} }, function(s) sup = s; s:stop() end)
    end)
    local ok, err = pcall(sup.stop, sup, -1)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'stop' %(grace must be a number >= 0%)", err)
  end)
end)
