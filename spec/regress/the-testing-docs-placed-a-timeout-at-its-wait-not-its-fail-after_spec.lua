-- spec/regress/the-testing-docs-placed-a-timeout-at-its-wait-not-its-fail-after_spec.lua
--
-- Broke (docs): docs/testing.md said testing.async places a Timeout "after
-- the line of the spec that raised it (where the wait that timed out is)",
-- but it is placed at the line of its fail_after, as Trio's fail_at raises
-- at its `with`: fail_after raises it once its body has unwound, and the
-- wait may be in any function that body called. The docs now say so; this
-- pins that behaviour, with the wait on another line than its fail_after
-- (the spec that placed it "at the wait" had both on one line). The code
-- did not change, so this passed before the fix of the docs too.
local corral = require "corral"
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

local function waits()
  corral.sleep(100)
end

describe("a Timeout that reaches busted from testing.async", function()
  it("is placed at its fail_after, not at the wait that timed out", function()
    local function fn()
      corral.fail_after(10, function()
        waits()
      end)
    end
    local ok, err = pcall(testing.async(fn))
    assert.is_false(ok)
    local at = SRC .. ":" .. debug.getinfo(fn, "S").linedefined + 1 .. ": "
    assert.equal(at .. "Timeout: deadline passed after 10s", err)
  end)
end)
