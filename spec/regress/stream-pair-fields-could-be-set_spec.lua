-- The fields of a stream_pair stream could be set: `s.closed = true` was
-- accepted, so a spec could fool the leak check (and the stream's own
-- checks) into taking an open stream for a closed one. A TCP stream raises
-- "stream: cannot set field 'closed' (its fields are read-only)"; the
-- in-memory streams now do the same, for any field (closed still reads).
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

describe("regression: a stream_pair stream's fields", function()
  it("cannot be set, as on a TCP stream", function()
    local ok, err, line
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      ok, err = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        a.closed = true
      end)
      assert.is_false(a.closed)
      b:close()
      assert.is_true(b.closed)
      assert.has_error(function() a.extra = 1 end,
        "stream: cannot set field 'extra' (its fields are read-only)")
    end)
    assert.is_false(ok)
    assert.equal(SRC .. ":" .. line .. ": stream: cannot set field 'closed' (its fields are read-only)", err)
  end)
end)
