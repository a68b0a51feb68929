-- spec/regress/a-failure-reported-on-stderr-was-lost-where-io-stderr-could-not-write_spec.lua
--
-- Broke (0.26.2): the two failures corral reports with a line on stderr by
-- default, a tcp.serve handler's (no on_error) and a temporary supervisor
-- child's (no on_failure), were written through io.stderr and dropped in
-- silence where it could not write: a sandbox that removed io.stderr, a state
-- opened without the io library, a stderr pointed at something that is not a
-- file. Neither failure is raised anywhere else, so it was lost. The line now
-- goes straight to the process's stderr when io.stderr cannot take it.

local support = require "support"

local PROGRAM = [[
local corral = require "corral"
local supervisor = require "corral.supervisor"
%s
corral.run(function()
  corral.group(function(g)
    local port = g:start(function(ready)
      corral.tcp.serve("127.0.0.1", 0, function() error("handler boom") end,
                       { ready = ready })
    end)
    local c <close> = corral.tcp.connect("127.0.0.1", port)
    assert(c:read() == nil)              -- the handler failed, its stream closed
    g:stop()
  end)
  supervisor.run({ children = {
    { name = "t", restart = "temporary", fn = function() error("child boom") end },
  } })
end)
print("ran to the end")
]]

describe("a failure corral reports on stderr by default", function()
  for what, prelude in pairs({
    ["io.stderr removed"] = "io.stderr = nil",
    ["io.stderr not a file"] = "io.stderr = {}",
    ["io.stderr closed"] = "io.stderr:close()",
  }) do
    it("still reaches the process's stderr with " .. what, function()
      local out = support.lua_output(PROGRAM:format(prelude))
      assert.matches("ran to the end", out, 1, true)
      assert.matches("corral.tcp.serve: handler for [^\n]* failed: [^\n]*handler boom", out)
      assert.matches("child 't' failed: [^\n]*child boom", out)
    end)
  end

  it("goes through io.stderr where the program pointed it", function()
    local out = support.lua_output(PROGRAM:format([[
      local lines = {}
      io.stderr = { write = function(self, s) lines[#lines + 1] = s; return self end }
      local run = corral.run
      corral.run = function(...)
        run(...)
        io.stdout:write("captured: ", table.concat(lines), "\n")
      end]]))
    assert.matches("captured: corral.tcp.serve: handler for [^\n]* failed: [^\n]*handler boom", out)
    assert.matches("child 't' failed: [^\n]*child boom", out)
  end)
end)
