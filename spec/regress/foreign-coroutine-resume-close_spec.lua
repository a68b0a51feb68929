-- A task's coroutine belongs to the engine. coroutine.resume on a parked
-- task's coroutine used to run its continuation under the wrong current task,
-- and coroutine.close freed the scopes and groups that lived on its stack while
-- the engine still linked them (and their deadlines stayed in the heap).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local raw = support.raw_coroutine

describe("regression: foreign coroutine operations on a task", function()
  it("coroutine.resume raises a clear error and the task runs on undisturbed", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local co
        g:spawn(function()
          co = coroutine.running()
          corral.sleep(2)
          log:stamp("child woke")
        end)
        corral.sleep(1)
        local ok, err = pcall(coroutine.resume, co)
        assert.is_false(ok)
        assert.matches("coroutine.resume: this coroutine belongs to a corral task", err)
        assert.equal("suspended", coroutine.status(co))
      end)
    end)
    assert.same({ "child woke@2" }, log.items)
  end)

  it("coroutine.close raises a clear error and closes nothing", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local co
        g:spawn(function()
          co = coroutine.running()
          corral.scope(function() corral.sleep(10) end, { timeout = 3 })
          log:stamp("child ran on")
        end)
        corral.sleep(1)
        local ok, err = pcall(coroutine.close, co)
        assert.is_false(ok)
        assert.matches("coroutine.close: this coroutine belongs to a corral task", err)
      end)
    end)
    assert.same({ "child ran on@3" }, log.items)
  end)

  it("a copy of coroutine.resume taken before require finds the task parked and changes nothing", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local co
        g:spawn(function()
          co = coroutine.running()
          corral.sleep(2)
          log:stamp("child woke")
        end)
        corral.sleep(1)
        assert.same({ true }, { raw.resume(co) })
        log:stamp("resumer goes on")
      end)
    end)
    assert.same({ "resumer goes on@1", "child woke@2" }, log.items)
  end)

  it("a copy of coroutine.close: the task fails, what it opened is joined, no error is lost", function()
    local inner_group
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        local co
        g:spawn({ function()
          co = coroutine.running()
          corral.group(function(inner)
            inner_group = inner
            -- (the close interrupts the task at once, so the inner child is
            -- cancelled at 1 and fails in its cleanup: that error must reach
            -- the group too)
            inner:spawn({ function()
              local _ <close> = setmetatable({}, { __close = function()
                error("inner child fails", 0)
              end })
              corral.sleep(3)
            end, name = "inner" })
            corral.scope(function() corral.sleep(10) end, { timeout = 5 })
          end)
        end, name = "victim" })
        corral.sleep(1)
        assert.is_true(raw.close(co))
        collectgarbage()
        collectgarbage()
        corral.sleep(10)
        -- the group the dead task had opened is closed, not left open
        assert.is_true(inner_group.closed)
        assert.has_error(function() inner_group:spawn(function() end) end)
      end)
    end)
    assert.equal(2, #eg)
    assert.same({ "victim", "victim" }, eg.tasks)
    assert.matches("closed from outside", eg.errors[1])
    assert.is_true(corral.is_error_group(eg.errors[2]))
    assert.same({ "inner child fails" }, eg.errors[2].errors)
  end)

  it("other coroutines resume and close as before", function()
    vrun(function()
      local gen = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
      assert.same({ true, 2 }, { coroutine.resume(gen, 1) })
      assert.same({ true, 10 }, { coroutine.resume(gen, 5) })
      local other = coroutine.create(function() coroutine.yield() end)
      coroutine.resume(other)
      assert.is_true(coroutine.close(other))
    end)
  end)
end)
