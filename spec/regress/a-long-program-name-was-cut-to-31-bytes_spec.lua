-- registry["corral.progname"] prefixes the lines corral writes on stderr
-- itself, but corral copied it into a 32-byte buffer when loaded, so a
-- program naming itself by its path (argv[0], as many do) saw the name cut:
-- "/usr/local/libexec/my-long-daem: corral.run: the trace was not written".
-- The name is now kept whole, also when the program clears the field later.
local support = require "support"

describe("regression: a long program name was cut to 31 bytes", function()
  local full = io.open("/dev/full", "w")
  if full then full:close() end
  local it_full = full and it or pending

  it_full("the line starts with the whole name", function()
    local name = "/usr/local/libexec/a-daemon-with-a-long-name-" .. ("x"):rep(200)
    local out = support.lua_output(([[
      debug.getregistry()["corral.progname"] = %q
      local corral = require "corral"
      debug.getregistry()["corral.progname"] = nil   -- read when loaded
      collectgarbage()
      print(pcall(corral.run, function() error("x", 0) end, { trace = "/dev/full" }))
    ]]):format(name))
    assert.equal(name .. ": corral.run: the trace was not written: No space left on device\n",
                 out:match("^[^\n]*\n"))
  end)
end)
