-- require "corral" after package.loaded.corral = nil (a test runner that
-- reloads modules) made a second module state, which took over the shared
-- metatables: every object of the first then called into a state with no
-- run ("event:wait: called outside corral.run" inside corral.run, a lost
-- s:cancel). The module is now one per Lua state: loading it again returns
-- the same table.
local corral = require "corral"
local support = require "support"

describe("regression: corral loaded twice in one Lua state", function()
  it("is the same module, and the first one's objects keep working", function()
    package.loaded.corral = nil
    local again = require "corral"
    assert.equal(corral, again)
    local log = {}
    support.vrun(function()
      local ev = corral.event(); ev:set()
      ev:wait()
      corral.group(function(g) g:spawn(function() log[#log + 1] = "child" end) end)
      local r = corral.scope(function(s) s:cancel("stop"); corral.sleep(1); return "not cancelled" end)
      log[#log + 1] = tostring(r)
    end)
    assert.same({ "child", "nil" }, log)
  end)
end)
