-- Found by the hostile pass after the cancellation redesign.
--
-- lcr_msgh builds every failure's traceback message from tostring(err). For
-- an ErrorGroup that is the whole rendered tree, so a failure at the bottom
-- of a chain of n nested groups keeps O(n^2) characters of rendering per
-- level, O(n^3) in all: 300 levels keep 15 MB of "tracebacks", 600 levels
-- 114 MB, and 2,000 levels take more than 30 s of CPU (20,000 never end).
-- Expected: memory and time linear in the depth (e.g. the traceback message
-- of an ErrorGroup is its first line, "ErrorGroup: 1 failure").
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: tracebacks of nested ErrorGroups", function()
  it("stay linear in the depth of the chain", function()
    local depth = 300
    local ok, eg = pcall(vrun, function()
      local function nest(k)
        if k == 0 then error("deep failure") end
        corral.group(function(g) g:spawn(nest, k - 1) end)
      end
      nest(depth)
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(eg))
    local total, levels = 0, 0
    local e = eg
    while corral.is_error_group(e) do
      levels = levels + 1
      total = total + #(e.tracebacks[1] or "")
      e = e.errors[1]
    end
    assert.equal("deep failure", tostring(e):match("deep failure"))
    assert.is_true(levels >= depth)
    -- a few kB per level is plenty for a traceback
    assert.is_true(total < depth * 4096,
      ("tracebacks of %d levels take %d bytes"):format(levels, total))
  end)
end)
