-- The task tree shows where each task waits: the innermost line of the
-- user's code. It skipped corral's embedded Lua but not its modules, so a
-- task blocked reading a corral.testing stream_pair was shown "at
-- .../corral/testing.lua:NNN", a line of the kit, not of the spec.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: the task tree for a task waiting inside a corral module", function()
  it("names the user's line, not the module's", function()
    local tree, line
    testing.run(function()
      local a, b = testing.stream_pair()
      corral.group(function(g)
        g:spawn(function()
          line = debug.getinfo(1, "l").currentline + 1
          a:read()
        end)
        corral.sleep(1)
        tree = corral.tree()
        g:cancel()
      end)
      a:close()
      b:close()
    end)
    assert.truthy(tree:find("waiting on event at [^\n]*tree%-named%-testing%-kit%-for%-stream%-waits_spec%.lua:" .. line),
                  tree)
    assert.falsy(tree:find("testing.lua", 1, true), tree)
  end)
end)
