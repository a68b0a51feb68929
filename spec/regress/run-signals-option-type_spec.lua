-- Found by the second hostile pass.
--
-- §2: "Bad arguments (wrong types) raise a clear error at the call", and §1
-- says `signals = true|false`. corral.run reads it with lua_toboolean, so
-- `signals = "no"` or `signals = 0` silently *enables* signal handling (SIGINT
-- then cancels the root instead of killing the program). Likewise
-- debug_signal = 2^32 + 10 is truncated to an int and becomes SIGUSR1.
local corral = require "corral"

describe("regression: corral.run option types", function()
  for _, v in ipairs({ "no", 0, 5, {} }) do
    it(("refuses signals = %s (%s)"):format(tostring(v), type(v)), function()
      local ok, err = pcall(corral.run, function() end, { signals = v })
      assert.is_false(ok, "signals = " .. tostring(v) .. " was accepted")
      assert.matches("signals", tostring(err), 1, true)
    end)
  end

  it("refuses a debug_signal number that does not fit an int", function()
    local ok, err = pcall(corral.run, function() end, { debug_signal = (1 << 32) + 10 })
    assert.is_false(ok, "debug_signal = 2^32 + 10 was accepted (as SIGUSR1)")
    assert.matches("debug_signal", tostring(err), 1, true)
  end)
end)
