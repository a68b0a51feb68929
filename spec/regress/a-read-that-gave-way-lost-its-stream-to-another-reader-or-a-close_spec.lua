-- spec/regress/a-read-that-gave-way-lost-its-stream-to-another-reader-or-a-close_spec.lua
--
-- Broke (a verifier of the reads that give way once the pass's 10 ms are up):
-- * read_exactly and read_line longer than the 64 kB buffer gave way between
--   their reads, and a second task's read took the stream: the first reader got
--   "another task is already reading" in the middle of its own call, and lost
--   the bytes it had taken. A call of several reads now gives way at its end.
-- * A close during the yield: a second version ended the call with ECLOSED
--   (as a parked call ends), which lost the bytes it had taken, called a write
--   the kernel had taken a failure, and made a group's cancel that closed the
--   stream (a cancelled sibling's write) an ECLOSED failure instead of a clean
--   cancel. The call is over when it gives way: what comes meanwhile comes
--   after it, and the next call meets it.
-- * Older (0.19 too): a reader parked for the rest of its line ("hel" came,
--   "lo\n" not yet), or woken and yet to run, did not keep a second reader off:
--   its read took "hel". One reader at a time now holds while bytes wait.

local corral = require "corral"

local function spin(ms)
  local t = os.clock()
  while os.clock() - t < ms / 1000 do end
end

-- fn(server_side, client_side) inside a run, with a loopback connection.
local function with_pair(fn)
  corral.run(function()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    corral.group(function(g)
      local c
      g:spawn(function() c = corral.tcp.connect("127.0.0.1", l.port) end)
      local s = l:accept()
      while not c do corral.checkpoint() end
      fn(s, c, g)
    end)
  end)
end

describe("a stream read", function()
  it("keeps a second reader off while the first waits for the rest of its line", function()
    local a_line, b_ok, b_err
    with_pair(function(s, c, g)
      local a = g:spawn(function() a_line = s:read_line() end)
      c:write("hel")
      corral.sleep(0.05)                 -- A took "hel" and waits for more
      assert.equal("waiting", a.status)
      b_ok, b_err = pcall(s.read, s)
      c:write("lo\n")
      c:close()
    end)
    assert.is_false(b_ok)
    assert.matches("another task is already reading", tostring(b_err))
    assert.equal("hello", a_line)
  end)

  it("closed by another task while a lines() loop gave way: no line lost", function()
    local n, ok, err = 0
    with_pair(function(s, c, g)
      g:spawn(function()
        c:write(string.rep("x\n", 30000))   -- 60 kB: one read-ahead
        while n < 100 do corral.checkpoint() end
        s:close()                            -- while the loop gave way
      end)
      ok, err = pcall(function()
        for _ in s:lines() do
          n = n + 1
          spin(0.05)                         -- the pass's 10 ms run out
        end
      end)
      c:close()
    end)
    assert.is_false(ok)                 -- the next call: the stream is closed
    assert.matches("stream:lines: attempt to use a closed stream", tostring(err))
    assert.is_true(n >= 100 and n < 30000, tostring(n))
  end)

  it("that gave way, in a group whose cancel closes the stream, ends cancelled", function()
    local ok, err, read
    with_pair(function(s, c)
      c:write(string.rep("y", 1000))
      assert(s:read(1))                      -- reading from now on
      corral.sleep(0.05)                     -- the rest waits in the buffer
      ok, err = pcall(corral.group, function(g)
        g:spawn(function()                   -- parked under backpressure
          s:write(string.rep("z", 64 << 20))
        end)
        g:spawn(function()
          spin(15)                           -- the pass's 10 ms run out
          -- the cancel comes while the read gives way (the write's cancel
          -- closes s); in any order of a seeded run, before the checkpoint
          g:spawn(function() g:cancel() end)
          read = s:read()                    -- buffered: it gives way
          corral.checkpoint()
        end)
      end)
      c:close()
    end)
    assert.is_true(ok, tostring(err))        -- a clean cancel, no ECLOSED
    assert.equal(string.rep("y", 999), read)
  end)
end)
