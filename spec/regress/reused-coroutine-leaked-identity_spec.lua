-- With coroutines reused for later tasks, a module that kept the unwrapped
-- coroutine.running from before require "corral" (coroutine-local storage
-- in a weak table, say) saw one task's identity, and its data, in the next
-- task. require "corral" now looks for such a copy wherever the state can
-- reach it and leaves the pool off if it finds one. busted's helper loads
-- corral before any spec, so the program runs in a fresh lua5.4.
local program = [[
package.loaded.colocal = (function()
  local running = coroutine.running          -- the original: taken first
  local data = setmetatable({}, {__mode = "k"})
  return {
    get = function() return data[running()] end,
    set = function(v) data[running()] = v end,
    id = function() return running() end,
  }
end)()
local colocal = require "colocal"
local corral = require "corral"
local seen, ids = {}, {}
corral.run(function()
  corral.group(function(g)
    g:spawn(function() colocal.set("first task's"); ids[0] = colocal.id() end)
  end)
  corral.group(function(g)
    for i = 1, 20 do
      g:spawn(function() seen[i] = colocal.get(); ids[i] = colocal.id() end)
    end
  end)
  io.write(corral.debug_stats().pooled, " ")
end)
for i = 1, 20 do
  assert(seen[i] == nil, "task " .. i .. " saw " .. tostring(seen[i]))
  assert(ids[i] ~= ids[0], "task " .. i .. " has the first task's coroutine")
end
io.write("ok")
]]

describe("regression: a copy of coroutine.running kept from before require", function()
  it("leaves the pool off: no task sees another's coroutine or its data", function()
    local out = require("support").lua_output(program)
    assert.equal("0 ok", out)
  end)
end)
