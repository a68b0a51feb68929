-- spec/regress/a-standard-function-removed-after-require-hid-every-failure_spec.lua
--
-- Broke: a program that removed a standard function after require "corral"
-- (`string.format = nil`, `table.concat = nil`, `math.type = nil`, as a
-- sandbox hardens itself) or emptied the string metatable
-- (`getmetatable("").__index = nil`) lost every failure: rendering the
-- ErrorGroup raised "attempt to call a nil value (field 'format')" instead,
-- and the command printed that. corral's Lua kept the libraries at load,
-- not their functions, and called string methods through the metatable.
-- It now keeps the functions themselves and calls no string methods.
local corral = require "corral"
local race = require "corral.race"
local support = require "support"

local LIBS = { string = string, table = table, math = math }
local STRMT = getmetatable("")
local pack, unpack = table.pack, table.unpack

-- fn() with every function of string, table and math removed and the
-- string metatable emptied; all given back before it returns fn's results.
local function stripped(fn)
  local saved, index = {}, STRMT.__index
  for name, lib in pairs(LIBS) do
    saved[name] = {}
    for k, v in pairs(lib) do saved[name][k] = v end
    for k in pairs(saved[name]) do lib[k] = nil end
  end
  STRMT.__index = nil
  local r = pack(pcall(fn))
  STRMT.__index = index
  for name, lib in pairs(LIBS) do
    for k, v in pairs(saved[name]) do lib[k] = v end
  end
  return unpack(r, 1, r.n)
end

describe("regression: a standard function removed after require", function()
  it("leaves the command printing the task's own error", function()
    local code, text = support.command_stderr([[
local corral = require "corral"
string.format, string.gsub, table.concat, math.type = nil, nil, nil, nil
getmetatable("").__index = nil
corral.group(function(g) g:spawn(function() error("the real failure") end) end)
]])
    assert.equal(1, code)
    assert.matches("the real failure", text, 1, true)
    assert.is_nil(text:find("nil value", 1, true))
  end)

  it("leaves ErrorGroup, Timeout and Cancelled rendering", function()
    local cancelled
    local ok, eg = pcall(support.vrun, function()
      corral.scope(function(s)
        s:cancel("why")
        cancelled = select(2, pcall(corral.sleep, 1))
      end)
      corral.group(function(g)
        g:spawn(function() corral.sleep(3); error("one", 0) end)
        g:spawn(function() corral.fail_after(1, corral.sleep, 2) end)
      end, { defer_errors = true })
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_cancelled(cancelled))
    local ok2, text, timeout_text, cancelled_text = stripped(function()
      return tostring(eg), tostring(eg.errors[1]), tostring(cancelled)
    end)
    assert.is_true(ok2, text)
    assert.matches("ErrorGroup: 2 failures", text, 1, true)
    assert.matches("one", text, 1, true)
    assert.equal("Timeout: deadline passed after 1s", timeout_text)
    assert.matches("Cancelled: why (source=explicit", cancelled_text, 1, true)
  end)

  it("leaves a policy's failures reported (race's branch tracebacks)", function()
    -- (corral.run on the virtual clock, not the kit: busted's own code,
    -- which the kit calls on a failure, needs the standard functions)
    local ok, ok2, err = stripped(function()
      return pcall(corral.run, function()
        race({ function() error("left", 0) end, function() error("right", 0) end })
      end, { clock = "virtual" })
    end)
    assert.is_true(ok, ok2)
    assert.is_false(ok2)
    assert.is_true(corral.is_error_group(err), tostring(err))
    local text = tostring(err)
    assert.matches("left", text, 1, true)
    assert.matches("right", text, 1, true)
  end)
end)
