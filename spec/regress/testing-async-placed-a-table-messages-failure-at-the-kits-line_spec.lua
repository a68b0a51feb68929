-- An assertion whose message is a table (assert(false, {code = 7})) failing
-- inside testing.async reached busted at the kit's own line
-- ("testing.lua:396: {message = ...}"): the kit puts the spec's position
-- before a failure's message, which it could only do to text, and a child's
-- table message became "table: 0x...". It is now written as busted writes
-- it (penlight's pretty), after the spec's position, in a failure busted
-- shows as text.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: testing.async placed a table message's failure at the kit's line", function()
  local function failure_of(body)
    local ok, err = pcall(testing.async(body))
    assert.is_false(ok)
    return err, tostring(err)
  end

  it("in a child task", function()
    local line = debug.getinfo(1, "l").currentline
    local err, text = failure_of(function()
      corral.group(function(g)
        g:spawn(function() assert(false, { code = 7 }) end)
      end)
    end)
    assert.equal("table", type(err))                     -- still a failure
    assert.matches(("^[^\n]*_spec%%.lua:%d: {"):format(line + 3), text)
    assert.matches("code = 7", text, 1, true)
    assert.matches("(failed in task task-", text, 1, true)
  end)

  it("in the body", function()
    local line = debug.getinfo(1, "l").currentline
    local _, text = failure_of(function() assert(false, { code = 8 }) end)
    assert.matches(("^[^\n]*_spec%%.lua:%d: {"):format(line + 1), text)
    assert.matches("code = 8", text, 1, true)
  end)
end)
