-- Three more places where an allocation ran a __gc finalizer between a
-- check and a use (after g:tasks() and g:spawn):
-- * a task's results were taken off its coroutine after the allocation of
--   their table: a finalizer that closed that coroutine meanwhile (kept with
--   coroutine.running(), no longer known for a task's) reset its stack, and
--   the results were read from below it (a crash). They move first now.
-- * corral.tree() walked the scopes while building tables: a finalizer that
--   called a g:start child's ready() moved the child to another list under
--   the walk (a crash). The tree is built with the collector stopped.
-- * ready() stored its value before setting its flag: a finalizer calling it
--   again in between succeeded too. The flag comes first.
-- Each rearms a finalizer and makes the collector run often (a minor
-- collection each time the heap grows by 1 %).
local corral = require "corral"
local support = require "support"

local function with_frequent_collections(fn)
  local mode = collectgarbage("generational", 1, 100)
  collectgarbage("step")
  local ok, e = pcall(fn)
  collectgarbage(mode)
  if not ok then error(e, 0) end
end

describe("regression: finalizers re-entering corral", function()
  it("closing a finished task's coroutine while its results are kept", function()
    local co, stop, wrong = nil, false, 0
    local mt = {}
    mt.__gc = function()
      if co then pcall(coroutine.close, co) end
      if not stop then setmetatable({}, mt) end
    end
    with_frequent_collections(function()
      support.vrun(function()
        corral.group(function(g)
          for i = 1, 300 do
            setmetatable({}, mt)
            local t = g:spawn(function()
              co = coroutine.running()
              return "a" .. i, "b" .. i, "c" .. i
            end)
            local ok, a, b, c = t:wait()
            co = nil
            if not (ok and a == "a" .. i and b == "b" .. i and c == "c" .. i) then
              wrong = wrong + 1
            end
          end
        end)
      end)
      stop = true
    end)
    assert.equal(0, wrong)
  end)

  it("calling a g:start child's ready while corral.tree() walks", function()
    local ready_, armed, stop, trees = nil, false, false, 0
    local mt = {}
    mt.__gc = function()
      if armed and ready_ then local r = ready_; ready_ = nil; r("v") end
      if not stop then setmetatable({}, mt) end
    end
    with_frequent_collections(function()
      support.vrun(function()
        corral.group(function(g)
          for _ = 1, 100 do
            g:spawn(function()
              while not ready_ do corral.checkpoint() end
              setmetatable({}, mt)
              armed = true
              assert(corral.tree():find("task", 1, true))
              trees = trees + 1
              armed = false
              if ready_ then local r = ready_; ready_ = nil; r("v") end
            end)
            local got = corral.scope(function()
              return g:start(function(ready) ready_ = ready; corral.sleep(1) end)
            end)
            assert(got == "v")
          end
          g:cancel()
        end)
      end)
      stop = true
    end)
    assert.equal(100, trees)
  end)

  it("calling ready a second time while the first call keeps its value", function()
    local ready_, inner, stop, both = nil, nil, false, 0
    local mt = {}
    mt.__gc = function()
      if ready_ then local r = ready_; ready_ = nil; inner = pcall(r, "from-gc") end
      if not stop then setmetatable({}, mt) end
    end
    with_frequent_collections(function()
      support.vrun(function()
        corral.group(function(g)
          for _ = 1, 3000 do
            inner = nil
            local outer
            local v = g:start(function(ready)
              for _ = 1, 3 do setmetatable({}, mt) end
              ready_ = ready
              outer = pcall(ready, "from-task")
              ready_ = nil
            end)
            if inner and outer then both = both + 1 end
            assert(v == (outer and "from-task" or "from-gc"))
          end
        end)
      end)
      stop = true
    end)
    assert.equal(0, both)
  end)
end)
