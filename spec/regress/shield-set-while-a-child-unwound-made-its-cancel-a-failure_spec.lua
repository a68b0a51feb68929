-- A shield set on a group (or on a scope between it and the cancelled one)
-- while a child was still unwinding an outer cancel hid that cancel from
-- the child's end: the engine looked for its catcher only up to the first
-- shield, found none, and failed the task with "a Cancelled reached the end
-- of a task that no cancelled scope encloses" (an ErrorGroup out of a
-- plain cancel). A shield hides a cancel from new checkpoints, not from a
-- Cancelled already on its way out: as in one task, and as in Trio, the
-- outer scope catches it.
local corral = require "corral"
local support = require "support"

local function slow_cleanup()
  return setmetatable({}, { __close = function()
    corral.scope(function() corral.sleep(1) end, { shield = true })
  end })
end

describe("regression: a shield set while a child unwinds an outer cancel", function()
  it("on the group: the outer scope catches the child's Cancelled", function()
    local caught, child_ended
    support.vrun(function()
      corral.scope(function(outer)
        corral.group(function(g)
          g:spawn(function()
            local _ <close> = slow_cleanup()
            local ok, e = pcall(corral.sleep, math.huge)
            child_ended = not ok and corral.is_cancelled(e)
            error(e, 0)
          end)
          corral.sleep(1)
          outer:cancel("outer")
          corral.scope(function() corral.sleep(0.5) end, { shield = true })
          g.shield = true
        end)
        corral.checkpoint()
      end)
    end)
    assert.is_true(child_ended)
  end)

  it("on a scope between them, set by the child itself, or after a deadline", function()
    local ends = {}
    support.vrun(function()
      corral.scope(function(outer)                    -- a scope between them
        corral.scope(function(x)
          corral.group(function(g)
            g:spawn(function() local _ <close> = slow_cleanup(); corral.sleep(math.huge) end)
            corral.sleep(1); outer:cancel("outer")
            corral.scope(function() corral.sleep(0.5) end, { shield = true })
            x.shield = true
          end)
        end)
        corral.checkpoint()                           -- outer's cancel
        ends[#ends + 1] = "not reached"
      end)
      ends[#ends + 1] = "between"
      corral.scope(function(outer)                    -- the child sets it
        corral.group(function(g)
          g:spawn(function()
            local _ <close> = setmetatable({}, { __close = function() g.shield = true end })
            corral.sleep(math.huge)
          end)
          corral.sleep(1); outer:cancel("outer")
        end)
      end)
      ends[#ends + 1] = "child"
      local ok = corral.move_on_after(1, function()     -- a deadline
        corral.group(function(g)
          g:spawn(function() local _ <close> = slow_cleanup(); corral.sleep(math.huge) end)
          corral.scope(function() corral.sleep(1.5) end, { shield = true })
          g.shield = true
        end)
      end)
      ends[#ends + 1] = ok and "deadline: not caught" or "deadline"
    end)
    assert.same({ "between", "child", "deadline" }, ends)
  end)

  -- (a review of the first fix) The group a child passed the Cancelled out
  -- through decided for itself with the rule of a task that never saw a
  -- cancel (its body's task had only waited at the join): the shield
  -- stopped its search, and the group returned as if nothing happened.
  it("further out: the group passes the child's Cancelled on to the cancelled scope", function()
    local after_group, r = false, nil
    support.vrun(function()
      r = corral.move_on_after(0.1, function()
        local s2
        corral.scope(function(scope)
          s2 = scope
          corral.group(function(g)
            g:spawn(function()
              local _, e = pcall(corral.sleep, math.huge)
              s2.shield = true
              error(e, 0)
            end)
          end)
          after_group = true
        end)
        return "body returned"
      end)
    end)
    assert.is_false(after_group)
    assert.is_false(r)
  end)

  -- A task that once had a cancel of its own caught (a move_on_after), and
  -- later raised a Cancelled it was handed, was believed to unwind one it
  -- had been delivered: the mark is cleared when its Cancelled is caught.
  for _, history in ipairs({ false, true }) do
    it("a handed Cancelled still fails a task a shield hid the cancel from"
       .. (history and ", after a cancel of its own was caught" or ""), function()
      local eg = support.error_group(support.vrun, function()
        local ch = corral.channel(1)
        corral.move_on_after(0.1, function()
          corral.group(function(outer)
            outer:spawn(function()
              local _, c = pcall(corral.sleep, math.huge)
              corral.scope(function() ch:send(c) end, { shield = true })
            end)
            corral.group(function(g)
              g:spawn(function()
                if history then corral.move_on_after(0, corral.sleep, 1) end
                error(ch:recv(), 0)
              end)
            end, { shield = true })
          end)
        end)
      end)
      assert.matches("no cancelled scope encloses", tostring(eg))
    end)
  end
end)
