-- Mistakes of the program that the I/O layer reported badly: reading a
-- child's stdin pipe (or writing its stdout) raised an IoError (ENOTCONN,
-- EPIPE) as if the child had died, and shutting its stdout down raised
-- ENOTCONN; tcp.serve{backlog = 0} blamed argument
-- #3 of 'listen' at a line of corral's own code; listener.port = 5 said
-- "attempt to index"; exec named a NUL byte in "each argument"; and
-- read_exactly(0) in a cancelled scope returned "" where every other
-- blocking call raises Cancelled.
local corral = require "corral"

local function run(fn) return corral.run(fn) end

describe("regression: I/O mistakes", function()
  it("say which way a child's pipe goes, as a plain error", function()
    run(function()
      local p <close> = corral.exec("cat", {})
      local ok, err = pcall(p.stdin.read, p.stdin)
      assert.is_false(ok)
      assert.is_false(corral.is_io_error(err))
      assert.matches("stream:read: this pipe only carries data to the child %(its stdin%)", err)
      ok, err = pcall(p.stdout.write, p.stdout, "x")
      assert.is_false(ok)
      assert.matches("stream:write: this pipe only carries data from the child", err)
      ok, err = pcall(p.stdin.read_line, p.stdin)
      assert.matches("stream:read_line: this pipe only carries data to the child", err)
      ok, err = pcall(p.stdout.shutdown, p.stdout)    -- was an IoError about sockets (ENOTCONN)
      assert.is_false(ok)
      assert.is_false(corral.is_io_error(err))
      assert.matches("stream:shutdown: this pipe only carries data from the child", err)
      p.stdin:write("still fine\n")            -- the right way still works
      p.stdin:shutdown()
      p.stdin:shutdown()                       -- twice is harmless, as on TCP
      ok, err = pcall(p.stdin.write, p.stdin, "x")
      assert.is_false(ok)                      -- not "its stdout or stderr"
      assert.matches("stream:write: this stream was shut down for writing", err, 1, true)
      p.stdin:close()
      assert.equal("still fine", p.stdout:read_line())
      assert.equal(0, p:wait())
    end)
  end)

  it("refuse an empty host name as a bad argument (the resolver said 'resolve : invalid argument')", function()
    run(function()
      for _, f in ipairs({ "listen", "connect", "serve" }) do
        local ok, err = pcall(corral.tcp[f], "", 80, print)
        assert.is_false(ok)
        assert.equal("bad argument #1 to '" .. f .. "' (host is empty: give an address "
          .. '("127.0.0.1", "::") or a name)', err)
      end
      local ok, err = pcall(corral.resolve, "")
      assert.is_false(ok)
      assert.equal("bad argument #1 to 'corral.resolve' (host is empty)", err)
    end)
  end)

  it("blame serve's own argument for a bad backlog", function()
    run(function()
      local ok, err = pcall(corral.tcp.serve, "127.0.0.1", 0, print, { backlog = 0 })
      assert.is_false(ok)
      assert.matches("bad argument #4 to 'serve' %(backlog must be an integer in 1%.%.65535%)", err)
      assert.is_nil(err:find("corral.io", 1, true))
    end)
  end)

  it("refuse setting a field of a listener, stream or process clearly", function()
    run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local ok, err = pcall(function() l.port = 5 end)
      assert.is_false(ok)
      assert.matches("listener: cannot set field 'port' %(its fields are read%-only%)", err)
    end)
  end)

  it("name the argument of exec that holds a NUL byte", function()
    run(function()
      local ok, err = pcall(corral.exec, "echo", { "a", "b\0c" })
      assert.is_false(ok)
      assert.matches("args%[2%] contains a NUL byte", err)
    end)
  end)

  it("make read_exactly(0) a cancellation point like the rest", function()
    run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      assert.equal("", c:read_exactly(0))
      corral.scope(function(s)
        s:cancel("now")
        local ok, err = pcall(c.read_exactly, c, 0)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(err))
      end)
    end)
  end)
end)
