-- race (and happy_eyeballs.connect) returned the winner's results past an
-- outer cancel that came after the win while a loser unwound, when that
-- loser's cleanup failed or swallowed its Cancelled: the group had nothing
-- to raise, and the outer deadline was lost. The docs promise the Cancelled
-- however the losers end; race asks its caller's scope once its group is
-- done.
local corral = require "corral"
local race = require "corral.race"
local happy_eyeballs = require "corral.happy_eyeballs"
local support = require "support"

describe("regression: an outer cancel after race's win", function()
  for _, ending in ipairs({ "reraise", "cleanup error", "return" }) do
    it("is raised when the loser's cleanup ends by " .. ending, function()
      local r, at
      support.vrun(function()
        r = table.pack(corral.move_on_after(0.5, race, {
          function()
            local _, c = pcall(corral.sleep, 10)           -- cancelled at 0.1
            corral.scope(function() corral.sleep(1) end, { shield = true })
            if ending == "reraise" then error(c, 0) end
            if ending == "cleanup error" then error("cleanup failed", 0) end
          end,
          function() corral.sleep(0.1); return "winner" end,
        }))
        at = corral.now()
      end)
      assert.same({ false, n = 1 }, r)
      assert.equal(1.1, at)
    end)
  end

  it("is raised by happy_eyeballs.connect, which closes the connection it won", function()
    local r, closed = nil, false
    support.vrun(function()
      r = table.pack(corral.move_on_after(0.5, happy_eyeballs.connect, "h", 80, {
        resolve = function() return { { address = "a", family = "inet" },
                                      { address = "b", family = "inet6" } } end,
        connect = function(address)
          if address == "a" then               -- the loser: slow to give up
            pcall(corral.sleep, 10)
            corral.scope(function() corral.sleep(1) end, { shield = true })
            return nil
          end
          corral.sleep(0.1)
          return { close = function() closed = true end }
        end,
        delay = 0.05,
      }))
    end)
    assert.same({ false, n = 1 }, r)
    assert.is_true(closed)
  end)
end)
