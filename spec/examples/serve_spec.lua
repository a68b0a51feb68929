local corral = require "corral"
local testing = require "corral.testing"

-- The code under test: answers each line in capitals, until "bye".
local function shout(stream)
  for line in function() return stream:read_line() end do
    assert(line ~= "", "empty line")
    if line == "bye" then return end
    stream:write(line:upper() .. "\n")
  end
end

describe("shout, served over TCP", function()
  it("answers in capitals", testing.async(function()
    corral.group(function(g)
      local port = g:start(function(ready)
        corral.tcp.serve("127.0.0.1", 0, shout, {
          ready = ready,
          -- a handler's failure fails the spec (by default: a line on stderr)
          on_error = function(err) error(err, 0) end,
        })
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", port)
      c:write("hello\n")
      assert.equal("HELLO", c:read_line())
      c:write("bye\n")
      assert.is_nil(c:read_line())        -- the server closed the connection
      g:cancel()
    end)
  end))

  it("lets a handler's failure fail the spec", function()
    local ok, err = pcall(testing.async(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, shout, {
            ready = ready, on_error = function(err) error(err, 0) end })
        end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        c:write("\n")
        c:read_line()
        g:cancel()
      end)
    end))
    assert.is_false(ok)
    assert.matches("empty line", tostring(err))
  end)
end)
