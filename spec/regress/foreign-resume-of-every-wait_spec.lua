-- Every blocking call parks its task with a continuation that first asks
-- whether the scheduler is the one resuming it; a resume from outside (a
-- copy of coroutine.resume taken before require "corral") must find the
-- task parked as it was, drop what the resumer passed, and change nothing.
-- The guard used to sit in one place for all waits; it now sits in each
-- continuation, so each kind of wait is tried here.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local raw = support.raw_coroutine

-- The parked task's coroutine is resumed from outside three times, with
-- junk arguments, before `finish` completes its wait.
local function pester(co)
  for i = 1, 3 do
    assert.same({ true }, { raw.resume(co, "junk", i, {}) })
    assert.equal("suspended", coroutine.status(co))
  end
end

-- wait(...) blocks in the child and returns what it got; finish() lets it go.
local cases = {
  sleep = function()
    return function() corral.sleep(2); return "slept" end,
           function() end, { "slept" }
  end,
  ["event:wait"] = function()
    local ev = corral.event()
    return function() ev:wait(); return "set" end,
           function() ev:set() end, { "set" }
  end,
  ["channel:recv"] = function()
    local ch = corral.channel(0)
    return function() return ch:recv() end,
           function() ch:send("value") end, { "value" }
  end,
  ["channel:send"] = function()
    local ch, got = corral.channel(0), {}
    return function() ch:send("sent"); return "delivered" end,
           function() got[1] = ch:recv(); assert.equal("sent", got[1]) end,
           { "delivered" }
  end,
  ["semaphore:acquire"] = function()
    local sem = corral.semaphore(1)
    sem:acquire()
    return function() sem:acquire(); sem:release(); return "acquired" end,
           function() sem:release() end, { "acquired" }
  end,
  ["lock:acquire"] = function()
    local lk = corral.lock()
    lk:acquire()
    return function() lk:acquire(); lk:release(); return "locked" end,
           function() lk:release() end, { "locked" }
  end,
  ["task:wait"] = function()
    local ev = corral.event()
    local target
    return function()
             return target:wait()
           end,
           function() ev:set() end, { true, "target done" },
           function(g) target = g:spawn(function() ev:wait(); return "target done" end) end
  end,
  ["group join"] = function()
    local ev = corral.event()
    return function()
             corral.group(function(g) g:spawn(function() ev:wait() end) end)
             return "joined"
           end,
           function() ev:set() end, { "joined" }
  end,
}

describe("regression: a foreign resume of a task parked in", function()
  for name, make in pairs(cases) do
    it(name .. " changes nothing", function()
      local got, want
      vrun(function()
        local wait, finish, setup
        wait, finish, want, setup = make()
        corral.group(function(g)
          if setup then setup(g) end
          local co
          g:spawn(function()
            co = coroutine.running()
            got = table.pack(wait())
          end)
          corral.sleep(1)
          pester(co)
          finish()
        end)
      end)
      assert.same(want, { table.unpack(got, 1, got.n) })
    end)
  end
end)
