-- corral remembers the Cancelled it raised last (a registry slot); when
-- the cancelled scope exited the memory was cleared but the slot still held
-- the value, so it (and any large reason it carried) stayed alive until the
-- next cancel or the end of the run.
local corral = require "corral"
local support = require "support"

describe("regression: the Cancelled raised last", function()
  it("can be collected once its scope has exited, while the run goes on", function()
    local weak = setmetatable({}, { __mode = "k" })
    local collected
    support.vrun(function()
      corral.scope(function(s)
        s:cancel(string.rep("x", 1000))
        local ok, e = pcall(corral.checkpoint)
        assert(corral.is_cancelled(e))
        weak[e] = true
      end)
      collectgarbage()
      collectgarbage()
      collected = next(weak) == nil
    end)
    assert.is_true(collected)
  end)
end)
