-- Under require "corral" the coroutine pool is on unless a copy of the
-- original coroutine.running (taken before require wrapped it) is left
-- anywhere the Lua state can reach: such a copy would hand one task's
-- coroutine to code that keys data by it, and then pass it to the next task.
-- Each case needs a Lua state of its own, so each runs in a fresh lua5.4.

local support = require "support"

local function run_lua(src)
  return support.lua_output(src .. [[

local corral = require "corral"
corral.run(function()
  corral.group(function(g)
    for _ = 1, 10 do g:spawn(corral.checkpoint) end
  end)
  io.write(corral.debug_stats().pooled)
end)
]])
end

describe("the coroutine pool under require", function()
  it("is on when no copy of coroutine.running is left", function()
    assert.equal("10", run_lua(""))
  end)

  it("is on when a copy was dropped before require", function()
    assert.equal("10", run_lua("local r = coroutine.running; r = nil"))
  end)

  it("is off when a local of the requiring chunk holds the original", function()
    assert.equal("0", run_lua("local running = coroutine.running"))
  end)

  it("is off when a loaded module's function keeps it as an upvalue", function()
    assert.equal("0", run_lua([[
      package.loaded.mod = (function()
        local running = coroutine.running
        return {id = function() return running() end}
      end)()]]))
  end)

  it("is off when only a suspended coroutine's local holds it", function()
    assert.equal("0", run_lua([[
      local co = coroutine.wrap(function()
        local running = coroutine.running
        coroutine.yield()
        return running
      end)
      co()
      _G.keep = co]]))
  end)

  it("is off when it is a key of a weak table, or in a metatable of numbers", function()
    assert.equal("0", run_lua(
      "_G.weak = setmetatable({[coroutine.running] = 1}, {__mode = 'k'})"))
    assert.equal("0", run_lua(
      "debug.setmetatable(0, {__index = {r = coroutine.running}})"))
  end)

  it("is off when the state is too large to search", function()
    assert.equal("0", run_lua(
      "local t = {} for i = 1, 250000 do t[i] = {} end _G.big = t"))
  end)

  it("is off when only an object waiting for its finalizer holds it", function()
    -- the finalizer would hand the copy out after the search: corral lets
    -- pending finalizers run first, and then finds it
    assert.equal("0", run_lua([[
      collectgarbage("stop")         -- so that only corral's collections run it
      do
        local running = coroutine.running
        setmetatable({}, {__gc = function() _G.kept = running end})
      end]]))
  end)

  it("gives up at once, pool off, when required from very deep in the stack", function()
    assert.equal("0 fast", support.lua_output([[
      local t0 = os.clock()
      local function rec(n) if n == 0 then require "corral" else rec(n - 1) end end
      rec(40000)
      local took = os.clock() - t0
      local corral = require "corral"
      corral.run(function()
        corral.group(function(g) for _ = 1, 10 do g:spawn(corral.checkpoint) end end)
        io.write(corral.debug_stats().pooled, took < 1 and " fast" or " slow")
      end)]]))
  end)

  it("follows the registry key when a host sets it", function()
    assert.equal("0", run_lua(
      "debug.getregistry()['corral.reuse_coroutines'] = false"))
    assert.equal("10", run_lua(
      "local running = coroutine.running\n" ..
      "debug.getregistry()['corral.reuse_coroutines'] = true"))
  end)
end)
