-- spec/regress/a-loop-over-a-full-channel-or-a-free-lock-never-let-others-run_spec.lua
--
-- Broke: a channel's send or recv, a lock's or a semaphore's acquire or with
-- and an event's wait that did not have to wait returned without giving other tasks
-- a turn, so a consumer draining a channel a producer had filled, or a loop
-- taking and releasing a free lock, held every other task, timer and I/O up
-- until it was done (streams had been fixed already). Such a call now gives
-- way once the tasks that ran since the last poll have had their 10 ms, on
-- the real clock of an unseeded run; never on the virtual clock or under a
-- seed, where a pass's length in real time must not change the order.
-- (The cases that give way pin the unseeded order: #fifo.)

local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local ITEMS = 40
local function work()                   -- 1 ms of computing per item
  local t = os.clock()
  while os.clock() - t < 0.001 do end
end

-- The loop `body(i)` runs ITEMS times in one task while another task counts
-- how far it got each time it runs; returns the counts it saw.
local function watch(run, prepare, body)
  local n, result = 0, nil
  run(function()
    local obj = prepare()
    corral.group(function(g)
      local loop = g:spawn(function()
        for i = 1, ITEMS do
          body(obj, i)
          n = i
          work()
        end
      end)
      result = support.watch_progress(g, loop, function() return n end, ITEMS)
    end)
  end)
  return result()
end

local cases = {
  {"a channel's recv", function()
     local ch = corral.channel(math.huge)
     for i = 1, ITEMS do ch:send(i) end
     return ch
   end, function(ch, i) assert(ch:recv() == i) end},
  {"a channel's send", function() return corral.channel(math.huge) end,
   function(ch, i) ch:send(i) end},
  {"a lock's acquire", corral.lock, function(l)
     l:acquire()
     l:release()
   end},
  {"a lock's with", corral.lock, function(l) l:with(function() end) end},
  {"a semaphore's with", function() return corral.semaphore(2) end,
   function(s) assert(s:with(function(a, b) return a + b end, 1, 2) == 3) end},
  {"a semaphore's acquire", function() return corral.semaphore(1) end,
   function(s)
     s:acquire()
     s:release()
   end},
  {"an event's wait", function()
     local e = corral.event()
     e:set()
     return e
   end, function(e) e:wait() end},
}

describe("a loop of calls that do not have to wait", function()
  for _, c in ipairs(cases) do
    local name, prepare, body = c[1], c[2], c[3]
    it("lets another task in: " .. name .. " #fifo", function()
      local midway, seen = watch(corral.run, prepare, body)
      assert.is_true(midway > 0, "the other task ran only at " .. seen)
    end)
    it("keeps its order on the virtual clock: " .. name, function()
      local midway, seen = watch(testing.run, prepare, body)
      assert.equal(0, midway, seen)
    end)
    it("keeps its order under a seed: " .. name, function()
      local midway, seen = watch(function(fn)
        corral.run(fn, {seed = 7})
      end, prepare, body)
      assert.equal(0, midway, seen)
    end)
  end

  it("returns what the call took after giving way #fifo", function()
    local got = {}
    corral.run(function()
      local ch = corral.channel(math.huge)
      for i = 1, ITEMS do ch:send(i) end
      ch:close()
      corral.group(function(g)
        g:spawn(function()
          for v in ch:iter() do
            got[#got + 1] = v
            work()
          end
        end)
        g:spawn(function()
          for _ = 1, 100 do corral.checkpoint() end
        end)
      end)
    end)
    assert.equal(ITEMS, #got)
    for i = 1, ITEMS do assert.equal(i, got[i]) end
  end)

  it("never raises a Cancelled after it took the value #fifo", function()
    local took, err, left
    corral.run(function()
      local ch = corral.channel(math.huge)
      for i = 1, ITEMS do ch:send(i) end
      corral.group(function(g)
        local consumer
        consumer = g:spawn(function()
          local ok, e = pcall(function()
            while true do
              local v = ch:recv()
              took = v
              work()
            end
          end)
          err = e
          left = #ch
        end)
        g:spawn(function()
          while took == nil or took < ITEMS // 2 do corral.checkpoint() end
          consumer:cancel()
        end)
      end)
    end)
    assert.is_true(corral.is_cancelled(err), tostring(err))
    -- every value taken out of the channel was returned: the cancel that
    -- came while the last recv gave way was met by the next call
    assert.is_true(took >= ITEMS // 2 and took < ITEMS, tostring(took))
    assert.equal(ITEMS - took, left)
  end)
end)
