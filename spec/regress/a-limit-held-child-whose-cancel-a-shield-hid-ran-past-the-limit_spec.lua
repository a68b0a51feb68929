-- A child held back by its group's `limit` used to be let go past the limit
-- when a cancel reached it, to end at once (waiting for a slot could wait for
-- ever). Cancellation is a level read when the child runs, so when a shield
-- set before then hid that cancel again (`cancel()` then `shield = true` in
-- the same turn, or a deadline and a task woken in the same instant that sets
-- the shield), the child was not cancelled, and ran its whole function beside
-- the others: three at once in a group of limit 1. Since then a cancel lets
-- no held child past the limit at all: it keeps its place in the queue, and
-- runs (its whole function if a shield hid the cancel, else up to its first
-- cancellation point) once it has its slot.
local corral = require "corral"
local support = require "support"

-- Spawn n jobs named from `first` into g: each logs its start (its name, and
-- the time by name) and counts how many run at once (the most in stats.max),
-- then sleeps `len`.
local function jobs(g, first, n, len, stats)
  for i = first, first + n - 1 do
    g:spawn(function()
      stats.running = stats.running + 1
      stats.max = math.max(stats.max, stats.running)
      stats.started[#stats.started + 1] = i
      stats.at[i] = corral.now()
      corral.sleep(len)
      stats.running = stats.running - 1
    end)
  end
end

local function new_stats() return { running = 0, max = 0, started = {}, at = {} } end

describe("regression: a limit-held child whose cancel a shield hid", function()
  it("waits for its slot (the group's shield lowered and raised)", function()
    local stats = new_stats()
    support.vrun(function()
      corral.scope(function(outer)
        corral.group(function(g)
          jobs(g, 1, 3, 1, stats)
          corral.sleep(0.5)
          outer:cancel(); g.shield = false; g.shield = true
        end, { limit = 1, shield = true })
      end)
      assert.equal(3, corral.now())
    end)
    assert.equal(1, stats.max)
    assert.same({ 1, 2, 3 }, stats.started)
  end)

  it("waits for its slot when a scope between hides the cancel", function()
    local stats = new_stats()
    support.vrun(function()
      corral.scope(function(outer)
        corral.scope(function(mid)
          corral.group(function(g)
            jobs(g, 1, 6, 1, stats)
            corral.sleep(0.5)
            outer:cancel(); mid.shield = true
          end, { limit = 2 })
        end)
      end)
      assert.equal(3, corral.now())
    end)
    assert.equal(2, stats.max)
    -- two by two, in spawn order (a seed may start the two of a pair either way)
    assert.same({ 0, 0, 1, 1, 2, 2 }, stats.at)
  end)

  it("keeps its place ahead of children spawned after the cancel", function()
    local stats = new_stats()
    support.vrun(function()
      corral.scope(function(outer)
        corral.scope(function(mid)
          corral.group(function(g)
            jobs(g, 1, 3, 1, stats)
            corral.sleep(0.5)
            outer:cancel(); mid.shield = true
            jobs(g, 4, 2, 1, stats)
          end, { limit = 1 })
        end)
      end)
    end)
    assert.equal(1, stats.max)
    assert.same({ 1, 2, 3, 4, 5 }, stats.started)
  end)

  -- (#fifo: under a seed, deadlines due at one instant fire in any order)
  it("waits for its slot when a deadline and the shield come in the same instant #fifo", function()
    local stats = new_stats()
    support.vrun(function()
      corral.group(function(top)
        local group
        -- armed before the deadline: woken first in that instant
        top:spawn(function() corral.sleep(2); group.shield = true end)
        corral.checkpoint()
        corral.scope(function()
          corral.group(function(g)
            group = g
            jobs(g, 1, 3, 10, stats)
          end, { limit = 1 })
        end, { deadline = 2 })
      end)
      assert.equal(30, corral.now())
    end)
    assert.equal(1, stats.max)
    assert.same({ 1, 2, 3 }, stats.started)
  end)

  it("waits its turn and ends at its first cancellation point when the cancel stays", function()
    local stats = new_stats()
    support.vrun(function()
      corral.scope(function(outer)
        corral.group(function(g)
          jobs(g, 1, 3, 1, stats)
          corral.sleep(0.5)
          outer:cancel()
        end, { limit = 1 })
      end)
      assert.equal(0.5, corral.now())
    end)
    assert.same({ 1, 2, 3 }, stats.started)
    assert.same({ 0, 0.5, 0.5 }, stats.at)
  end)
end)
