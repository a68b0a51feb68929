-- corral.group took defer_errors = "false" (or 0) for true, so a typo in a
-- config file deferred errors it meant not to; a table as a group's name was
-- kept and shown as "table: 0x..."; ErrorGroup:render ignored its options,
-- so {traceback = true} silently dropped the tracebacks it asked for; and
-- testing.run's misspelt options were blamed on corral.run.
local corral = require "corral"
local support = require "support"

describe("regression: option values of the wrong type", function()
  it("corral.group refuses a defer_errors that is not a boolean", function()
    for _, v in ipairs({ "false", 0, {} }) do
      support.vrun(function()
        support.assert_arg_error(2, "group", "defer_errors must be a boolean",
          function() corral.group(function() end, { defer_errors = v }) end)
      end)
    end
  end)

  it("corral.group refuses a name that is not a string or a number", function()
    support.vrun(function()
      support.assert_arg_error(2, "group", "name must be a string",
        function() corral.group(function() end, { name = {} }) end)
      local name
      corral.group(function(g) name = g.name end, { name = 7 })
      assert.equal("7", name)
    end)
  end)

  it("ErrorGroup:render refuses unknown options and a non-table", function()
    local e = corral.error_group({ "boom" }, { "t" })
    support.assert_arg_error(1, "render", "unknown option 'traceback'",
      function() e:render({ traceback = true }) end)
    support.assert_arg_error(1, "render", "table expected, got number",
      function() e:render(5) end)
    assert.equal("ErrorGroup: 1 failure\n`- [t] boom", e:render({ tracebacks = true }))
  end)

  it("corral.testing names its own function for an unknown run option", function()
    local testing = require "corral.testing"
    support.assert_arg_error(2, "run", "unknown option 'seeed'",
      function() testing.run(function() end, { seeed = 1 }) end)
    support.assert_arg_error(3, "each_seed", "unknown option 'x'",
      function() testing.each_seed(2, function() end, { x = 1 }) end)
    assert.equal(3, testing.run(function() return 3 end, { seed = 5 }))
  end)
end)
