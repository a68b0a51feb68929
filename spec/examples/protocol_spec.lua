local corral = require "corral"
local testing = require "corral.testing"

-- The code under test: a line protocol ("ADD 1 2" -> "3", "QUIT" ends it),
-- written against the stream interface alone, so it serves TCP connections
-- (corral.tcp.listen) in production and in-memory streams in its specs.
local function serve(stream)
  local buffer = ""
  while true do
    local line, rest = buffer:match("^(.-)\n(.*)$")
    if line then
      buffer = rest
      if line == "QUIT" then break end
      local a, b = line:match("^ADD (%-?%d+) (%-?%d+)$")
      stream:write(a and tostring(a + b) .. "\n" or "ERR bad command\n")
    else
      local data = stream:read()
      if data == nil then break end       -- the client shut down
      buffer = buffer .. data
    end
  end
  stream:close()
end

describe("the adder protocol", function()
  it("answers each line, even when bytes arrive one at a time", testing.async(function()
    local client, server = testing.stream_pair({ max_chunk = 1 })
    local _ <close> = client
    corral.group(function(g)
      g:spawn(serve, server)
      client:write("ADD 2 40\nADD -1 1\nSUB 1 1\n")
      assert.equal("42", client:read_line())
      assert.equal("0", client:read_line())
      assert.equal("ERR bad command", client:read_line())
      client:write("QUIT\n")
      assert.is_nil(client:read())        -- the server closed its end
    end)
  end))

  it("stops at end of file", testing.async(function()
    local client, server = testing.stream_pair()
    local _ <close> = client
    corral.group(function(g)
      g:spawn(serve, server)
      client:write("ADD 1 1\n")
      client:shutdown()
      assert.equal("2", client:read_line())
      assert.is_nil(client:read_line())
    end)
  end))
end)
