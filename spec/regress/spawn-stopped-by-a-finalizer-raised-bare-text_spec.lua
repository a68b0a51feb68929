-- g:spawn checked that the group was not stopping, then made the task: that
-- allocation may run a step of the collector whose __gc finalizer stops the
-- group, and the engine's refusal then came out as its bare "group is
-- stopping" instead of spawn's own message. The check is made again there.
local corral = require "corral"
local support = require "support"

describe("regression: a spawn whose allocation runs a finalizer that stops the group", function()
  it("raises spawn's own 'the group is stopping' message", function()
    local err, stopped_by_fin
    support.vrun(function()
      corral.group(function(g)
        local fin = { __gc = function() stopped_by_fin = true; g:stop() end }
        -- As in group-tasks-overran-its-array-when-a-finalizer-spawned:
        -- a minor collection each 1 % of growth, padding up to a hundred
        -- bytes short of it; the task's userdata (240 bytes) runs it.
        local mode = collectgarbage("generational", 1, 100)
        collectgarbage("step")
        local heap = collectgarbage("count") * 1024
        setmetatable({}, fin)
        local pad = nil
        while heap / 100 - (collectgarbage("count") * 1024 - heap) > 150 do
          pad = { pad }
        end
        local ok, e = pcall(g.spawn, g, function() end)
        collectgarbage(mode)
        err = not ok and e or "spawned"
      end)
    end)
    assert.is_true(stopped_by_fin)
    assert.matches("group:spawn: the group is stopping (g:stop was called: it starts no new task)",
                   err, 1, true)
  end)
end)
