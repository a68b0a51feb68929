-- A group stopped with a grace showed only "(stopping)" in the tree: when
-- its stragglers would be cancelled was nowhere (g.deadline stays math.huge,
-- the grace is the stop's own timer). The tree now says when the grace ends.
local corral = require "corral"
local support = require "support"

describe("regression: a stopping group's grace in the tree", function()
  it("is shown as text and in the table form", function()
    local text, node
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.scope(function() corral.sleep(10) end, { shield = true }) end)
        g:spawn(function()
          corral.sleep(0.5)
          text = corral.tree()
          local root = corral.tree{ format = "table" }
          node = root.children[1]
        end)
        corral.sleep(0.1)
        g:stop(2)
      end)
    end)
    assert.matches("%(stopping, grace ends in 1%.600s%)", text)
    assert.equal("group", node.kind)
    assert.is_true(node.stopping)
    assert.is_true(math.abs(node.grace - 1.6) < 1e-9)
  end)
end)
