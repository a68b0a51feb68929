-- A stream_pair stream used outside corral.run raised "stream:write: called
-- outside corral.run" at a line of testing.lua (the kit's call of corral's
-- cancellation point) instead of the user's line, as TCP streams' calls do.
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

-- The error of f() and the line f raised it from (f's first line + 1).
local function error_at(f)
  local line = debug.getinfo(f, "S").linedefined + 1
  local ok, err = pcall(f)
  assert.is_false(ok)
  return err, SRC .. ":" .. line .. ": "
end

describe("regression: a stream_pair call outside a run", function()
  local a, b = testing.stream_pair()
  teardown(function() a:close(); b:close() end)

  for op, f in pairs({
    write = function()
      a:write("x")
    end,
    read = function()
      b:read()
    end,
    read_line = function()
      b:read_line()
    end,
    lines = function()
      for _ in b:lines() do end
    end,
    read_exactly = function()
      b:read_exactly(3)
    end,
  }) do
    it("puts " .. op .. "'s error at the caller's line", function()
      local err, at = error_at(f)
      assert.equal(at .. "stream:" .. op .. ": called outside corral.run", err)
    end)
  end
end)
