-- Found by the hostile pass after the cancellation redesign.
--
-- A blocking call made on the task's own coroutine, but where that coroutine
-- cannot yield (inside a C function that calls back into Lua: table.sort's
-- comparator, string.gsub's callback, an options table's __index read by
-- corral's C code, a __gc), passes lcr_checkblocking, parks the task in the
-- engine (timer armed, linked in a wait queue, task marked waiting, a group
-- entered), and only then fails in lua_yieldk with "attempt to yield across a
-- C-call boundary". The error unwinds the task while the engine still thinks
-- it is parked:
--   * a later sleep(5) returns at once (the task was still queued), or when an
--     unrelated event is set (it was still in the event's wait queue);
--   * the task's list node is linked into a second wait queue while the first
--     still points at it (hang / corrupted list: see the -relink spec);
--   * corral.group escapes without joining: its child outlives the task that
--     opened the group, the run ends in "deadlock", and an ev:set() after the
--     run touches the collected child (heap-use-after-free under ASan).
-- Expected: the blocking call raises a clear error before it touches the
-- engine (check lua_isyieldable in lcr_checkblocking and before entering a
-- group), and nothing is left parked.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: a blocking call where the task's coroutine cannot yield", function()
  it("corral.sleep in table.sort's comparator raises and leaves nothing parked", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        g:spawn(function()
          local ok, err = pcall(table.sort, { 2, 1 }, function(a, b)
            corral.checkpoint()
            return a < b
          end)
          assert.is_false(ok)
          assert.is_string(err)
          corral.sleep(5)
          log:stamp("slept 5")
        end)
      end)
    end)
    assert.same({ "slept 5@5" }, log.items)
  end)

  it("ev:wait in table.sort's comparator does not leave the task in the event's queue", function()
    local log = support.log()
    vrun(function()
      local ev = corral.event()
      corral.group(function(g)
        g:spawn(function()
          assert.is_false((pcall(table.sort, { 2, 1 }, function(a, b) ev:wait() return a < b end)))
          corral.sleep(10)
          log:stamp("slept 10")
        end)
        corral.sleep(1)
        ev:set()          -- must not wake the sleeper
      end)
    end)
    assert.same({ "slept 10@10" }, log.items)
  end)

  it("corral.group in table.sort's comparator never lets a child outlive its group", function()
    local log = support.log()
    local ev
    local ok, err = pcall(vrun, function()
      ev = corral.event()
      corral.group(function(g)
        g:spawn(function()
          pcall(table.sort, { 2, 1 }, function(a, b)
            corral.group(function(g2)
              g2:spawn(function() ev:wait() log:stamp("grandchild woke") end)
            end)
            return a < b
          end)
          log:stamp("task ends")
        end)
      end)
      log:stamp("root's group returned")
    end)
    assert.is_true(ok, tostring(err))
    -- the group either was refused (no grandchild) or was joined
    assert.same({ "task ends@0", "root's group returned@0" }, log.items)
    collectgarbage()
    collectgarbage()
    ev:set()            -- heap-use-after-free today: the grandchild was collected
  end)

  it("an options table whose __index blocks: the group raises, the task is not left parked", function()
    local log = support.log()
    vrun(function()
      local opts = setmetatable({}, { __index = function() corral.sleep(0.5) end })
      assert.is_false((pcall(corral.group, function() end, opts)))
      -- the task runs on: the engine must not think it is parked
      assert.equal("running", corral.current_task().status)
      corral.sleep(2)
      log:stamp("slept 2")
      -- the aborted sleep(0.5) must not have been left armed: a second park
      -- on the task's own timer works as usual
      corral.sleep(1)
      log:stamp("slept 1")
    end)
    assert.same({ "slept 2@2", "slept 1@3" }, log.items)
  end)
end)
