-- Writing a field of a channel, lock, semaphore or event raised Lua's
-- "attempt to index a corral.Channel value", which names neither the write
-- nor the rule. It says, as tasks and groups do, that the fields are
-- read-only.
local corral = require "corral"

describe("regression: a field written on a synchronisation object", function()
  it("raises that its fields are read-only, naming the kind and the field", function()
    local objects = { channel = corral.channel(1), lock = corral.lock(),
                      semaphore = corral.semaphore(2), event = corral.event() }
    for kind, o in pairs(objects) do
      local ok, err = pcall(function() o.capacity = 1 end)
      assert.is_false(ok)
      assert.matches(kind .. ": cannot set field 'capacity' %(its fields are read%-only%)", err)
    end
    assert.equal(1, objects.channel.capacity)
  end)
end)
