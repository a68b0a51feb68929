-- spec/regress/the-tree-called-a-task-woken-with-its-value-unwinding-a-cancelled_spec.lua
--
-- Broke (0.26.2): a task woken with what it waited for (a channel value), then
-- cancelled before it ran, showed in corral.tree() as "scheduled, unwinding a
-- Cancelled", although its call returns the value first (a delivered wake-up
-- wins) and a task that then returns ends "done". The tree now says the task
-- was woken with what it waited for, then a Cancelled; the table form marks it
-- `handed = true` beside `unwinding = true`.

local corral = require "corral"
local support = require "support"

local function node_of(tree, id)
  if tree.id == id then return tree end
  for _, c in ipairs(tree.children or {}) do
    local n = node_of(c, id)
    if n then return n end
  end
end

describe("the task tree of a task woken with its value, then cancelled", function()
  for _, how in ipairs({ "t:cancel", "g:cancel" }) do
    it("says so, not 'unwinding' (" .. how .. ")", function()
      local text, node, ok, v, r
      support.vrun(function()
        local ch = corral.channel(1)
        corral.group(function(g)
          r = g:spawn(ch.recv, ch)
          while r.status ~= "waiting" do corral.checkpoint() end   -- in recv
          ch:send("v")                     -- handed to r, which is queued
          if how == "t:cancel" then r:cancel("late") else g:cancel("late") end
          text = corral.tree()
          node = node_of(corral.tree({ format = "table" }), r.id)
        end)
        ok, v = r:wait()               -- (g:cancel cancelled the body too)
      end)
      assert.matches("scheduled, woken with what it waited for, then a Cancelled", text, 1, true)
      local line = text:match("[^\n]*task%-3 #3[^\n]*")
      assert.is_nil(line:find("unwinding", 1, true), text)
      assert.is_true(node.handed)
      assert.is_true(node.unwinding)
      assert.is_true(ok)
      assert.equal("v", v)
      assert.equal("done", r.status)
    end)
  end

  it("still says 'unwinding a Cancelled' of a waiter the cancel woke", function()
    local text, node
    support.vrun(function()
      local ch = corral.channel(1)
      corral.group(function(g)
        local r = g:spawn(ch.recv, ch)
        while r.status ~= "waiting" do corral.checkpoint() end
        r:cancel("now")
        text = corral.tree()
        node = node_of(corral.tree({ format = "table" }), r.id)
      end)
    end)
    assert.matches("scheduled, unwinding a Cancelled", text, 1, true)
    assert.is_nil(node.handed)
    assert.is_true(node.unwinding)
  end)
end)
