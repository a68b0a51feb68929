local corral = require "corral"
local testing = require "corral.testing"

describe("a client with timeouts, against a real TCP server", function()
  it("gets the answer, then times out on silence", testing.async(function()
    local listener <close> = corral.tcp.listen("127.0.0.1", 0)
    corral.group(function(g)
      g:spawn(function()                  -- answers once, then says nothing
        local conn <close> = listener:accept()
        conn:write("re: " .. conn:read())
        conn:read()
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", listener.port)
      c:write("hello")
      -- real I/O under a virtual timeout: the clock waits for the socket
      assert.equal("re: hello", corral.fail_after(5, c.read, c))
      assert.equal(0, corral.now())
      -- nothing comes: after 0.5 s of real time with every task blocked,
      -- the virtual clock jumps to the deadline
      assert.is_false(corral.move_on_after(30, c.read, c))
      assert.equal(30, corral.now())
      g:cancel()
    end)
  end, { autojump_threshold = 0.5 }))
end)
