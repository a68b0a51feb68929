-- spec/regress/a-pending-beside-an-error-read-as-that-error_spec.lua
--
-- Broke: a busted pending() in a child, beside another child's real error (no
-- assertion failed), showed in the group's tree as "[p] not yet", the way an
-- error reads, while beside an assertion failure it read "[p] pending: not
-- yet", as docs/testing.md says. The tree took the kit's text of any value,
-- which had no case for a pending; both renderings now use one that labels it.
local corral = require "corral"
local testing = require "corral.testing"

local function pending_beside(fail)
  local ok, err = pcall(testing.async(function()
    corral.group(function(g)
      g:spawn({ function() pending("not yet") end, name = "p" })
      g:spawn({ function() corral.sleep(1); fail() end, name = "e" })
    end, { defer_errors = true })
  end))
  assert.is_false(ok)
  return err
end

describe("a pending beside another child's failure", function()
  it("reads as a pending beside an error", function()
    local err = pending_beside(function() error("real") end)
    assert.is_string(err)
    assert.matches("|- [p] pending: not yet\n", err, 1, true)
    assert.matches("`- [e] ", err, 1, true)
  end)

  it("reads as a pending beside an assertion failure, as before", function()
    local err = pending_beside(function() assert.equal(1, 2) end)
    assert.matches("  [p] pending: not yet", tostring(err.message), 1, true)
  end)
end)
