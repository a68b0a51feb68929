-- An ErrorGroup that holds the same group twice (two tasks re-raised the one
-- group they caught), at each of n levels, is n + 1 tables, but tostring and
-- split walked every path through it: 2^n renderings. At 20 levels that was
-- 14 s and 250 MB of text, and under the corral command a script that ended
-- with such an error printed only "not enough memory", its own error lost.
-- A group met again is now named, not rendered again, and split once.
local corral = require "corral"

local function shared(levels)
  local eg = corral.error_group({ "leaf" }, { "t" })
  for _ = 1, levels do eg = corral.error_group({ eg, eg }, { "a", "b" }) end
  return eg
end

describe("regression: an ErrorGroup shared at every level", function()
  it("renders each distinct group once", function()
    local text = tostring(shared(16))      -- every path: 2^16 leaves
    assert.truthy(#text < 4000, #text)
    assert.truthy(text:find("(the same ErrorGroup as above)", 1, true))
    local _, leaves = text:gsub("%[t%] leaf", "")
    assert.equal(1, leaves)
  end)

  it("splits each distinct group once, and the parts share as the group did", function()
    local calls = 0
    local yes, no = shared(16):split(function(e) calls = calls + 1; return e == "leaf" end)
    assert.equal(1, calls)
    assert.is_nil(no)
    assert.equal(yes.errors[1], yes.errors[2])
    assert.equal(2 ^ 16, #yes:flatten())   -- flatten still lists every path
  end)

  it("still names a group found inside itself", function()
    local eg = corral.error_group({ "x" }, { "t" })
    eg.errors[2], eg.tasks[2] = eg, "self"
    local text = tostring(eg)
    assert.truthy(text:find("(this ErrorGroup again: it contains itself)", 1, true), text)
  end)
end)
