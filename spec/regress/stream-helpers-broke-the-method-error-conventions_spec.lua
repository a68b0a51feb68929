-- The stream methods written in Lua (read_line, lines, read_exactly, and the
-- in-memory streams' read and write) did not word their argument errors as
-- the C methods do: a call with a dot got no hint to use a colon, and under
-- pcall the argument was counted without self and named without its type.
-- They now raise what luaL_argerror raises for a C method.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

-- The message of f's error, without its position.
local function said(f)
  local ok, err = pcall(f)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

describe("regression: the Lua halves of the stream methods", function()
  it("hint at the colon when called with a dot, as the C methods do", function()
    support.with_tcp_pair(function(_, c)
      assert.equal("bad argument #1 to 'read_line' (stream expected, got number; "
        .. "call a method with a colon: obj:read_line(...))",
        said(function() local r = c.read_line(5); return r end))
      assert.equal("bad argument #1 to 'read_exactly' (stream expected, got number; "
        .. "call a method with a colon: obj:read_exactly(...))",
        said(function() local r = c.read_exactly(5); return r end))
      local a, b = testing.stream_pair()
      assert.equal("bad argument #1 to 'read' (stream expected, got number; "
        .. "call a method with a colon: obj:read(...))",
        said(function() local r = a.read(5); return r end))
      a:close(); b:close()
    end)
  end)

  it("in memory too: self checked first, named by its type, other types by __name", function()
    support.vrun(function()
      local a, b = testing.stream_pair()
      assert.equal("bad argument #1 to 'write' (stream expected, got string; "
        .. "call a method with a colon: obj:write(...))",
        said(function() local r = b.write("hi"); return r end))
      local ok, err = pcall(a.read_line, a, 0)
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'corral.testing.Stream.read_line' "
        .. "(max must be an integer >= 1)", err)
      assert.equal("bad argument #1 to 'read' (stream expected, got corral.Event; "
        .. "call a method with a colon: obj:read(...))",
        said(function() local r = a.read(corral.event()); return r end))
      a:close(); b:close()
    end)
  end)

  it("count self and name the type under pcall, as the C methods do", function()
    support.with_tcp_pair(function(_, c)
      local ok, err = pcall(c.read_exactly, c, -1)
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'corral.Stream.read_exactly' (n must be an integer >= 0)", err)
      assert.equal("bad argument #1 to 'lines' (max must be an integer >= 1)",
        said(function() local r = c:lines(0); return r end))
    end)
  end)
end)
