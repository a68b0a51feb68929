-- testing.run called inside a running task raised corral.run's "cannot be
-- called inside a running task" through the kit's own pcall, with no
-- position: busted blamed the enclosing spec function. It names itself
-- now, at the caller's line, as corral.run does.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: testing.run inside a task", function()
  it("raises at the caller's line, naming testing.run", function()
    local err
    corral.run(function()
      err = select(2, pcall(function() testing.run(function() end) end))
    end)
    assert.matches("^[^\n]*testing%-run%-in%-a%-task%-had%-no%-position_spec%.lua:%d+: testing%.run: cannot be "
                   .. "called inside a running task", err)
  end)
end)
