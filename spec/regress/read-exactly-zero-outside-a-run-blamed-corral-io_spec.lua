-- s:read_exactly(0) outside corral.run raised at "corral.io:168:", the
-- cancellation point inside corral's own Lua, instead of the user's line.
local corral = require "corral"
local testing = require "corral.testing"
local SRC = debug.getinfo(1, "S").short_src

describe("regression: read_exactly(0) outside a run", function()
  it("names the user's line", function()
    local a
    corral.run(function() a = testing.stream_pair() end)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local v = a:read_exactly(0); return v end)
    assert.is_false(ok)
    assert.equal(("%s:%d: stream:read_exactly: called outside corral.run"):format(SRC, line), err)
  end)
end)
