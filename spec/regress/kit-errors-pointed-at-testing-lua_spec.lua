-- Errors of a testing.async spec that were not busted assertions reached
-- busted as the kit re-raised them: busted, finding no position in an
-- ErrorGroup, a Timeout or a deadlock message, put testing.lua's line in
-- front ("testing.lua:185: ErrorGroup: 1 failure ..."), and the child's
-- traceback was nowhere. Such an error now reaches busted as text that
-- starts at the spec's function and shows the group's tracebacks.
local corral = require "corral"
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

-- What busted receives from the body async(fn) makes.
local function reported(fn)
  local ok, err = pcall(testing.async(fn))
  assert.is_false(ok)
  return err, SRC .. ":" .. debug.getinfo(fn, "S").linedefined .. ": "
end

local function starts_with(prefix, s)
  assert.is_string(s)
  assert.equal(prefix, s:sub(1, #prefix))
end

describe("regression: an error of an async spec", function()
  it("from a child starts at the spec, with the child's traceback", function()
    local function child() corral.sleep(1); error("boom") end
    local err, at = reported(function()
      corral.group(function(g) g:spawn({ child, name = "worker" }) end)
    end)
    -- (at the line of the group that failed, in fn)
    assert.equal(SRC .. ":28: ", at:gsub(":%d+: $", ":28: "))
    starts_with(SRC .. ":28: ErrorGroup: 1 failure", err)
    assert.matches("[worker] " .. SRC .. ":26: boom", err, 1, true)
    assert.matches("stack traceback:", err, 1, true)
    assert.matches(SRC .. ":26: in ", err, 1, true)   -- the child's own frame
  end)

  it("that has no position, a Timeout, starts at the spec", function()
    local err, at = reported(function() corral.fail_after(1, corral.sleep, 2) end)
    starts_with(at .. "Timeout: deadline passed after 1s", err)
  end)

  it("that is a deadlock starts at the spec", function()
    local err, at = reported(function() corral.event():wait() end)
    starts_with(at .. "corral.run: deadlock:", err)
  end)

end)
