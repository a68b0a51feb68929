-- A chain of tasks each failing in its parent's group nests ErrorGroups as
-- deep as the chain is long. Two walks over them recursed in Lua: e:split
-- raised "stack overflow" past about 80,000 levels (flatten and rendering
-- already walked with a stack of their own), and the command, cutting every
-- traceback of the root's ErrorGroup, printed only "corral.cli: stack
-- overflow": the failure itself was lost.
local corral = require "corral"
local support = require "support"
local DEPTH = 100000

describe("regression: a deep ErrorGroup overflowed split and the command's tracebacks", function()
  it("e:split works at any depth, as flatten does", function()
    local e = corral.error_group({ "leaf" }, { "t0" })
    for i = 1, DEPTH do e = corral.error_group({ e }, { "g" .. i }) end
    local yes, no = e:split(function(err) return err == "leaf" end)
    assert.is_nil(no)
    assert.same({ "leaf" }, yes:flatten())
  end)

  it("the command prints the failure at the bottom of a chain of 100,000 tasks", function()
    local code, text = support.command_stderr([[
local corral = require "corral"
local function rec(d)
  if d == 0 then error("boom at the bottom") end
  corral.group(function(g) g:spawn(rec, d - 1) end)
end
rec(]] .. DEPTH .. [[)
]])
    assert.equal(1, code)
    assert.is_nil(text:find("stack overflow", 1, true))
    assert.truthy(text:find("boom at the bottom", 1, true))
  end)
end)
