-- A reader woken by data, whose stream another task closed before it ran,
-- raised "attempt to use a closed stream", the message for a program that
-- uses a stream it closed, as a plain string placed inside corral's own
-- chunk: a handler checking e.code == "ECLOSED" missed it. A write whose
-- abort (a cancel, which closes the stream) a shield then hid said the same.
-- Both are I/O failures of the call now: ECLOSED, and ECANCELED for the
-- write that was cut off.
local corral = require "corral"
local support = require "support"

describe("regression: a stream closed while its call waited", function()
  for _, m in ipairs({ "read", "read_line", "read_exactly" }) do
    it("wakes " .. m .. " with ECLOSED even after data woke it #fifo", function()
      local err
      support.with_tcp_pair(function(srv, c)
        corral.group(function(g)
          local reader = g:spawn(function()
            local _, e = pcall(srv[m], srv, 10)
            err = e
          end)
          corral.sleep(0.01)
          c:write("abc")
          support.until_woken(reader)
          srv:close()                     -- woken by the data, not yet run
        end)
      end)
      assert.is_true(corral.is_io_error(err), tostring(err))
      assert.equal("ECLOSED", err.code)
      assert.equal("stream:" .. m, err.call)
    end)
  end

  it("raises ECANCELED from a write whose abort a shield hid", function()
    local err
    support.with_tcp_pair(function(srv, c)
      corral.group(function(g)
        local inner
        corral.scope(function(outer)
          g:spawn(function()
            corral.sleep(0.02)
            outer:cancel("outer")          -- aborts the write: closes c
            inner.shield = true            -- and hides the cancel from it
          end)
          corral.scope(function(s)
            inner = s
            local _, e = pcall(c.write, c, string.rep("x", 32 << 20))
            err = e
          end)
        end)
      end)
    end)
    assert.is_true(corral.is_io_error(err), tostring(err))
    assert.equal("ECANCELED", err.code)
    assert.equal("stream:write", err.call)
  end)
end)
