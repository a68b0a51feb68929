-- The supervisor's default on_failure wrote the child's name raw to
-- stderr: a name holding a newline made two lines, the second of which
-- could pass for another child's failure. Names are escaped there as the
-- task tree and an ErrorGroup escape them.
local support = require "support"

describe("regression: the supervisor's default failure line", function()
  it("escapes the child's name", function()
    local out = support.lua_output([[
      package.path = ]] .. ("%q"):format(package.path) .. [[
      package.cpath = ]] .. ("%q"):format(package.cpath) .. [[
      local corral = require "corral"
      local supervisor = require "corral.supervisor"
      corral.run(function()
        supervisor.run({ children = { { name = "w\nsupervisor: child 'db' failed: FORGED",
          restart = "temporary", fn = function() error("real failure", 0) end } } })
      end)
    ]])
    assert.equal("supervisor: child 'w\\nsupervisor: child 'db' failed: FORGED' failed: real failure\n", out)
  end)
end)
