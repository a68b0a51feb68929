-- The peer sent part of a line, then reset the connection: read_line
-- (and lines, and read_exactly) raised ECONNRESET, and the bytes that had
-- arrived were gone (the next read raised ECONNRESET again), where a plain
-- read returns them first. The error now carries them in e.partial, as
-- read_exactly's end of file does.
local corral = require "corral"
local support = require "support"

local function cut_off(call, ...)
  local args = table.pack(...)
  local ok, err
  support.with_tcp_pair(function(srv, c)
    c:write("unread")                  -- never read by srv: its close resets
    corral.group(function(g)
      local reader = g:spawn(function()
        ok, err = pcall(c[call], c, table.unpack(args, 1, args.n))
      end)
      corral.checkpoint()              -- the reader waits
      srv:write("partial")
      support.until_woken(reader)      -- the bytes are corral's now
      srv:close()
    end)
  end)
  return ok, err
end

describe("regression: a line or count cut off by a reset", function()
  for _, case in ipairs({ { "read_line" }, { "read_exactly", 100 } }) do
    it(case[1] .. " raises ECONNRESET with the bytes in e.partial #fifo", function()
      local ok, err = cut_off(case[1], case[2])
      assert.is_false(ok)
      assert.is_true(corral.is_io_error(err))
      assert.equal("ECONNRESET", err.code)
      assert.equal("partial", err.partial)
    end)
  end
end)
