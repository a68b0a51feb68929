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

  -- (the first fix wrote a table with __tostring as "{}": busted shows its text)
  it("a table with __tostring is shown as its text", function()
    local line = debug.getinfo(1, "l").currentline
    local _, text = failure_of(function()
      assert(false, setmetatable({}, { __tostring = function() return "I am T" end }))
    end)
    assert.matches(("^[^\n]*_spec%%.lua:%d: I am T$"):format(line + 2), text)
  end)

  -- (the others listed after the first lost their line, and a table's content)
  it("the others listed after the first keep their lines too", function()
    local line = debug.getinfo(1, "l").currentline
    local _, text = failure_of(function()
      corral.group(function(g)
        g:spawn(function() assert(false, "first") end)
        g:spawn(function() corral.sleep(1); assert(false, { second = 2 }) end)
        g:spawn(function() corral.sleep(2); assert(false, 77) end)
      end, { defer_errors = true })
    end)
    assert.matches(("_spec%%.lua:%d: {"):format(line + 4), text)
    assert.matches("second = 2", text, 1, true)
    assert.matches(("_spec%%.lua:%d: 77"):format(line + 5), text)
  end)

  -- (busted's and luassert's frames were told by a directory name, so a
  -- spec under my-busted/ lost its line again)
  it("a spec in a directory whose name ends in busted keeps its line", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute(("mkdir -p %s/my-busted"):format(dir)))
    local f = assert(io.open(dir .. "/my-busted/t_spec.lua", "w"))
    f:write([[
local testing = require "corral.testing"
describe("d", function()
  it("t", testing.async(function()
    assert(false, { code = 7 })
  end))
end)
]])
    f:close()
    local cpath = package.cpath:match("[^;]*corral[^;]*") or package.cpath
    local out = require("support").sh(("cd %s && %s %s -o plainTerminal --cpath=%q --lpath=%q my-busted/t_spec.lua 2>&1"):format(
      dir, "lua5.4", "/usr/bin/busted", cpath:gsub("corral%.so$", "?.so"),
      (package.searchpath("corral.testing", package.path) or ""):gsub("corral/testing%.lua$", "?.lua")))
    os.execute(("rm -rf %s"):format(dir))
    assert.matches("my%-busted/t_spec%.lua:4: {", out)
  end)

  it("in the body", function()
    local line = debug.getinfo(1, "l").currentline
    local _, text = failure_of(function() assert(false, { code = 8 }) end)
    assert.matches(("^[^\n]*_spec%%.lua:%d: {"):format(line + 1), text)
    assert.matches("code = 8", text, 1, true)
  end)
end)
