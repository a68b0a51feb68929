-- `corral --trace /dev/full script.lua` with a script that failed wrote
-- "corral.run: the trace was not written: ..." on stderr without the
-- "corral: " that starts every other line the command writes of its own
-- (and that the same message has when the script succeeds).
local support = require "support"

describe("regression: the command's trace failure beside a failing script lacked its name", function()
  local full = io.open("/dev/full", "w")
  if full then full:close() end
  local it_full = full and it or pending

  local function command(script)
    local bin = os.getenv("CORRAL_BIN") or "build/corral"
    local path = os.tmpname()
    support.write_file(path, script)
    local out, code = support.sh(("%s --trace /dev/full %s 2>&1"):format(bin, path))
    os.remove(path)
    return out, code
  end

  it_full("a failing script: both lines start with the command's name", function()
    local out, code = command('error("boom", 0)')
    assert.equal(1, code)
    assert.matches("^corral: corral%.run: the trace was not written: No space left on device\n", out)
    assert.matches("\ncorral: boom\n", out)
  end)

  it_full("a script that succeeds says the same, and fails", function()
    local out, code = command('io.write("ok\\n")')
    assert.equal(1, code)
    assert.matches("ok\n", out, 1, true)
    assert.matches("%f[^\n%z]corral: corral%.run: the trace was not written: No space left on device\n", out)
  end)

  it_full("under require (no program name), the line is the run's own", function()
    local out = support.lua_output([[
      local corral = require "corral"
      print(pcall(corral.run, function() error("x", 0) end, { trace = "/dev/full" }))
    ]])
    assert.matches("^corral%.run: the trace was not written: No space left on device\n", out)
  end)
end)
