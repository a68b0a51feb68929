-- A child re-raising what t:wait() said of a cancelled task raises a Cancelled
-- whose scope has exited: the core treats it as an ordinary error, but the
-- Lua policies took it for cancellation and let it through. A supervised
-- child doing so failed the whole supervisor (siblings cancelled without
-- grace, on_failure never called); in race it beat the real winner and lost
-- the other failures; gather{settle = true} raised. It is now a failure like
-- any other (corral._cancel_live tells the two apart).
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local race, gather = require "corral.race", require "corral.gather"

-- Wait on a task that gets cancelled, and re-raise what t:wait() returned.
local function wait_and_reraise()
  local task
  corral.group(function(g)
    task = g:spawn(corral.sleep, 10)
    corral.checkpoint()
    task:cancel("gave up on the helper")
  end)
  local ok, e = task:wait()
  if not ok then error(e, 0) end
end

describe("regression: a re-raised Cancelled in a policy", function()
  it("is a temporary child's failure: on_failure hears of it, the rest runs on", function()
    local log = {}
    support.vrun(function()
      supervisor.run({
        on_failure = function(name) log[#log + 1] = "on_failure " .. name end,
        children = {
          { name = "sibling", shutdown = 5, fn = function(child)
            child:wait_stopping()
            log[#log + 1] = "sibling stopped gracefully"
          end },
          { name = "user", restart = "temporary", fn = function()
            corral.sleep(1); wait_and_reraise()
          end },
        },
      }, function(sup) corral.sleep(5); log[#log + 1] = "body at 5"; sup:stop() end)
    end)
    assert.same({ "on_failure user", "body at 5", "sibling stopped gracefully" }, log)
  end)

  it("does not win a race, and is kept with the other failures", function()
    support.vrun(function()
      assert.same({ 2, "page" },
        { race({ wait_and_reraise, function() corral.sleep(1); return "page" end }) })
      local ok, eg = pcall(race, {
        function() corral.sleep(0.5); wait_and_reraise() end,
        function() error("refused", 0) end,
      })
      assert.is_false(ok)
      assert.same({ "race[2]", "race[1]" }, eg.tasks)
    end)
  end)

  it("is a settled failure in gather{settle = true}", function()
    support.vrun(function()
      local r = gather({ wait_and_reraise, function() return 1 end }, { settle = true })
      assert.is_false(r[1].ok)
      -- (the ordinary error a group makes of it, since 0.18.0: not a Cancelled)
      assert.is_false(corral.is_cancelled(r[1].err))
      assert.matches("^a Cancelled was raised outside the scope it cancelled", r[1].err)
      assert.matches("gave up on the helper", r[1].err, 1, true)
      assert.is_true(r[2].ok)
    end)
  end)
end)
