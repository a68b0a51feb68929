-- A blocking call in a module's main chunk (a module that connects or sleeps
-- while `require` loads it, or one given to `corral -l`) raises "cannot block
-- here", as documented; but the message listed only a table.sort comparator,
-- a string.gsub callback, a __tostring and a __gc as the C functions that may
-- be in the way, so the most common one, `require` itself, was not named and
-- the user was left looking for a sort. It is named now, and
-- troubleshooting.md says what to do.
local corral = require "corral"
local support = require "support"

describe("regression: a module that blocked at require was told of sort comparators", function()
  it("names require in the error", function()
    local err
    support.vrun(function()
      package.preload["blocks-at-load"] = function() corral.sleep(1) end
      local ok
      ok, err = pcall(require, "blocks-at-load")
      package.preload["blocks-at-load"] = nil
      assert.is_false(ok)
    end)
    assert.matches("corral.sleep: cannot block here", err, 1, true)
    assert.matches("a module's main chunk in require", err, 1, true)
  end)
end)
