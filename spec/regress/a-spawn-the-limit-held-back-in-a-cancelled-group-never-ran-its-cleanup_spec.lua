-- In a group with a `limit` whose slots were taken, a child spawned after the
-- group was cancelled (or queued when the cancel came) was let go past the
-- limit and never ran its function: `g:cancel(); for i = 1, 3 do
-- g:spawn(uses_connection, conn_i) end` ran none of the three, and their
-- `<close>` handlers never closed the connections, which the contract's "no
-- spawn is silently dropped" exists to prevent. A held child now keeps
-- waiting for its slot in FIFO order, cancelled or not (the limit is never
-- exceeded), and once it has one runs its function up to its first
-- cancellation point. g:start of a held child likewise; its caller, if
-- cancelled while the child is only queued, raises its Cancelled at once
-- (the child, cancelled too, stays queued): waiting for the slot could wait
-- for ever.
local corral = require "corral"
local support = require "support"

local function closer(log, what)
  return setmetatable({}, { __close = function() log:add("close " .. what) end })
end

local function forever() while true do corral.sleep(10) end end

describe("regression: a spawn the limit held back in a cancelled group", function()
  it("runs up to its first cancellation point and closes what it opened", function()
    local log = support.log()
    local function uses_connection(conn)
      local c <close> = closer(log, conn)
      log:add("open " .. conn)
      corral.checkpoint()                 -- the Cancelled comes here
      log:add("used " .. conn)
    end
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(1) end)   -- takes the only slot
        corral.checkpoint()
        g:cancel()
        for i = 1, 3 do g:spawn(uses_connection, "conn" .. i) end
      end, { limit = 1 })
      assert.equal(0, corral.now())
    end)
    assert.same({ "open conn1", "close conn1", "open conn2", "close conn2",
                  "open conn3", "close conn3" }, log.items)
  end)

  it("never runs more children than the limit, queued or spawned after the cancel", function()
    local inside, most, ran, closed = 0, 0, 0, 0
    local function job()
      inside = inside + 1
      most = math.max(most, inside)
      ran = ran + 1
      local _ <close> = setmetatable({}, { __close = function()
        inside = inside - 1
        closed = closed + 1
      end })
      corral.sleep(1)
      corral.sleep(1)
    end
    support.vrun(function()
      corral.group(function(g)
        for _ = 1, 5 do g:spawn(job) end        -- 2 run, 3 queued
        g:spawn(function()                      -- a cleanup that takes time
          inside = inside + 1
          most = math.max(most, inside)
          local _ <close> = setmetatable({}, { __close = function() inside = inside - 1 end })
          corral.scope(function() corral.sleep(3) end, { shield = true })
        end)
        corral.sleep(1.5)
        g:cancel()
        for _ = 1, 4 do g:spawn(job) end        -- into the cancelled group
      end, { limit = 2 })
      -- the shielded one got its slot at 1.5 and held it while the rest
      -- drained through the other
      assert.equal(4.5, corral.now())
    end)
    assert.equal(2, most)
    assert.equal(9, ran)
    assert.equal(9, closed)
  end)

  it("drains in spawn order through a stop whose grace runs out", function()
    local log = support.log()
    support.vrun(function()
      corral.group(function(g)
        for i = 1, 3 do
          g:spawn(function()
            local _ <close> = closer(log, i)
            log:stamp("start " .. i)
            corral.sleep(1)
            log:stamp("end " .. i)
          end)
        end
        g:stop(1.5)
      end, { limit = 1 })
    end)
    assert.same({ "start 1@0", "end 1@1", "close 1", "start 2@1", "close 2",
                  "start 3@1.5", "close 3" }, log.items)
  end)

  it("shows as waiting for a slot in the tree while its group is cancelled", function()
    local text
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.scope(function() corral.sleep(1) end, { shield = true }) end)
        corral.checkpoint()
        g:cancel()
        g:spawn({ function() end, name = "queued" })
        text = corral.tree()
      end, { limit = 1 })
    end)
    local line = text:match("[^\n]*task queued #[^\n]*")
    assert.truthy(line, text)
    assert.truthy(line:find("scheduled, waiting for a slot of its group (limit 1)", 1, true), line)
  end)
end)

describe("regression: g:start of a child the limit holds back", function()
  it("gives up when the caller outside the group is cancelled; the child runs later", function()
    local log = support.log()
    local worker, r
    support.vrun(function()
      corral.group(function(g)
        g:spawn(forever)
        g:spawn(function() corral.sleep(3) end)   -- frees its slot at 3
        corral.group(function(outside)
          outside:spawn(function()
            r = table.pack(corral.move_on_after(1, function()
              return g:start({ function(ready)
                local _ <close> = closer(log, "worker")
                log:stamp("worker setup")
                ready("v")                          -- too late: does nothing
                corral.sleep(1)
                log:stamp("worker past its first cancellation point")
              end, name = "worker" })
            end))
            log:stamp("starter gave up")
            worker = g:tasks()[3]
            assert.equal("scheduled", worker.status)
          end)
        end)
        corral.sleep(5)
        g:cancel()
      end, { limit = 2 })
      local ok, e = worker:wait()
      assert.is_false(ok)
      assert.is_true(corral.is_cancelled(e))
    end)
    assert.same({ false, n = 1 }, r)
    assert.same({ "starter gave up@1", "worker setup@3", "close worker" }, log.items)
  end)

  it("gives up when the caller holds the last slot and its group is cancelled", function()
    local log = support.log()
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = closer(log, "starter")
          g:start(function(ready)
            local _ <close> = closer(log, "worker")
            log:stamp("worker setup")
            corral.checkpoint()
            ready()
          end)
          log:add("start returned")
        end)
        corral.sleep(1)
        g:cancel()
      end, { limit = 1 })
      assert.equal(1, corral.now())
    end)
    assert.same({ "close starter", "worker setup@1", "close worker" }, log.items)
  end)

  it("from a cancelled scope into a full group, raises at once and the child still runs", function()
    local log = support.log()
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(2) end)
        corral.scope(function(s)
          s:cancel()
          local ok, e = pcall(g.start, g, function(ready)
            local _ <close> = closer(log, "worker")
            log:stamp("worker setup")
            corral.checkpoint()
            ready()
          end)
          assert.is_false(ok)
          assert.is_true(corral.is_cancelled(e))
          log:stamp("start raised")
        end)
      end, { limit = 1 })
    end)
    assert.same({ "start raised@0", "worker setup@2", "close worker" }, log.items)
  end)

  it("waits on when a shield hides the caller's cancel before it runs", function()
    local v
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(2) end)
        local outer, mid
        corral.group(function(other)
          other:spawn(function()
            corral.scope(function(o)
              outer = o
              corral.scope(function(m)
                mid = m
                v = g:start(function(ready) ready("v") end)
              end)
            end)
          end)
          corral.sleep(1)
          outer:cancel()
          mid.shield = true                    -- in the same turn
        end)
        assert.equal(2, corral.now())
      end, { limit = 1 })
    end)
    assert.equal("v", v)
  end)

  -- (the caller is woken by its cancel, and its coroutine closed from outside
  -- before it runs again: its child is let go all the same, not left below
  -- scopes that are gone)
  it("lets the child go when the cancelled caller's coroutine is closed before it runs", function()
    local log = support.log()
    local worker
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(3) end)
        local co, sc
        local ok, e = pcall(corral.group, function(o)
          o:spawn(function()
            co = coroutine.running()
            corral.scope(function(s)
              sc = s
              g:start(function(ready)
                local _ <close> = closer(log, "worker")
                log:stamp("worker setup")
                corral.sleep(1)
                log:stamp("worker past its first cancellation point")
                ready()
              end)
            end)
          end)
          corral.sleep(1)
          worker = g:tasks()[2]
          sc:cancel()
          assert.is_true(support.raw_coroutine.close(co))
        end)
        assert.is_false(ok)
        assert.matches("closed from outside", tostring(e))
        assert.equal("scheduled", worker.status)
      end, { limit = 1 })
      assert.equal(3, corral.now())
      assert.equal("cancelled", worker.status)
    end)
    assert.same({ "worker setup@3", "close worker" }, log.items)
  end)

  it("still fails the run as a deadlock when nothing is cancelled", function()
    local ok, err = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn(function() g:start(function(ready) ready() end) end)
      end, { limit = 1 })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("^corral.run: deadlock", err)
  end)
end)
