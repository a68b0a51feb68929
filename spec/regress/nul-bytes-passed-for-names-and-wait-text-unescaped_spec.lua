-- Strings were compared as C strings: an option key "timeout\0x" passed
-- for `timeout` (and the scope ran with no deadline), clock "virtual\0x"
-- for "virtual", a signal "SIGUSR1\0x" for SIGUSR1. Each is refused now.
-- The tree escaped a task's own name but printed the names inside its
-- "waiting on ..." text raw (a newline forged a line, a NUL cut it); and
-- rendering an ErrorGroup whose errors list has a raising __index raised.
local corral = require "corral"

local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return tostring(err)
end

describe("regression: NUL bytes and escaping", function()
  it("refuses option keys and names with a NUL byte", function()
    corral.run(function()
      assert.matches("unknown option 'timeout\\000x'", message(corral.scope, print, { ["timeout\0x"] = 0 }), 1, true)
      assert.matches("format must be", message(corral.tree, { format = "table\0x" }), 1, true)
      assert.matches("signal name contains a NUL byte", message(corral.signal, "SIGUSR1\0x"), 1, true)
    end)
    assert.matches("clock must be", message(corral.run, print, { clock = "virtual\0x" }), 1, true)
  end)

  it("escapes the names inside a wait's text", function()
    local text
    corral.run(function()
      local lock = corral.lock()
      corral.group(function(g)
        g:spawn({ function() lock:acquire(); corral.sleep(10) end, name = "h\nFORGED" })
        g:spawn({ function() corral.sleep(1); lock:acquire() end, name = "waiter" })
        corral.sleep(2)
        text = corral.tree()
        g:cancel()
      end)
    end, { clock = "virtual" })
    assert.matches("waiting on lock held by h\\nFORGED", text, 1, true)
    assert.is_nil(text:find("\nFORGED", 1, true))
  end)

  it("renders an ErrorGroup whose lists have a raising __index", function()
    local eg = corral.error_group({ nil, "disk full" }, { "t", "u" })   -- error(nil) first
    setmetatable(eg.errors, { __index = function() error("lazy lookup failed") end })
    setmetatable(eg.tracebacks, { __index = function() error("tb lookup failed") end })
    eg.tracebacks[1] = nil
    assert.matches("disk full", tostring(eg), 1, true)
    assert.matches("disk full", eg:render({ tracebacks = true }), 1, true)
  end)
end)
