-- A Cancelled of a scope still entered, but by another task (a worker's,
-- handed over), raised in a policy's branch: the core makes an ordinary
-- failure of it at the end of the branch's task ("a Cancelled reached the
-- end of a task that no cancelled scope encloses"), but the policies asked
-- only whether its scope was still entered, took it for a live cancel and
-- re-raised it: race raised at once instead of letting the other branch
-- win, gather{settle = true} raised, happy_eyeballs never tried the next
-- address. The branches ask now, as the core does at the end of a task,
-- whether it cancels the running task.
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local happy_eyeballs = require "corral.happy_eyeballs"
local retry = require "corral.retry"
local support = require "support"

-- fn(foreign): a Cancelled whose scope another task is still inside.
local function with_foreign_cancelled(fn)
  support.vrun(function()
    local foreign, release = nil, corral.event()
    corral.group(function(g)
      g:spawn(function()
        corral.scope(function(s)
          s:cancel("A's scope")
          foreign = select(2, pcall(corral.checkpoint))
          corral.scope(function() release:wait() end, { shield = true })
        end)
      end)
      while not foreign do corral.sleep(0) end
      assert(corral.is_cancelled(foreign))
      fn(foreign)
      release:set()
    end)
  end)
end

local ORDINARY = "a Cancelled reached the end of a task that no cancelled scope encloses"

describe("regression: another task's live Cancelled skipped the policies' failure handling", function()
  it("race: it is a failure, which does not win", function()
    with_foreign_cancelled(function(foreign)
      local i, v = race({ function() error(foreign, 0) end,
                          function() corral.sleep(1); return "b" end })
      assert.equal(2, i)
      assert.equal("b", v)
    end)
  end)

  it("gather{settle = true}: it is an entry", function()
    with_foreign_cancelled(function(foreign)
      local r = gather({ function() error(foreign, 0) end }, { settle = true })
      assert.is_false(r[1].ok)
      assert.matches(ORDINARY, r[1].err, 1, true)
    end)
  end)

  it("happy_eyeballs: the next address is tried", function()
    with_foreign_cancelled(function(foreign)
      local conn = { close = function() end }
      local got = happy_eyeballs.connect("h", 80, {
        resolve = function() return { { address = "a" }, { address = "b" } } end,
        connect = function(a) if a == "a" then error(foreign, 0) end; return conn end,
      })
      assert.equal(conn, got)
    end)
  end)

  -- (it came as an ErrorGroup nested in the give-up's, where a failure of
  -- fn, or the same Cancelled in a race, is filed raw)
  it("supervisor: a child's fn raising it fails the child, raw", function()
    local supervisor = require "corral.supervisor"
    with_foreign_cancelled(function(foreign)
      local ok, eg = pcall(supervisor.run, { intensity = 0,
        children = { { name = "c", fn = function() error(foreign, 0) end } } })
      assert.is_false(ok)
      assert.is_false(corral.is_error_group(eg.errors[1]))
      assert.matches(ORDINARY, eg.errors[1], 1, true)
    end)
  end)

  -- (retry runs fn in the caller's task, whose scopes decide as the
  -- Cancelled unwinds through them: it is not a failure there, and a
  -- Cancelled is never retried; one of the caller's own scopes, raised
  -- inside a shield, was retried for a while by the first fix)
  it("retry: it is not retried, nor is the caller's own one inside a shield", function()
    with_foreign_cancelled(function(foreign)
      local n = 0
      local ok, err = pcall(retry, function(a) n = a; error(foreign, 0) end, { delay = 0 })
      assert.is_false(ok)
      assert.equal(1, n)
      assert.equal(foreign, err)
    end)
    support.vrun(function()
      local n = 0
      corral.scope(function(outer)
        outer:cancel("outer")
        local _, own = pcall(corral.checkpoint)
        corral.scope(function()
          retry(function() n = n + 1; error(own, 0) end, { delay = 1 })
        end, { shield = true })
      end)
      assert.equal(1, n)                      -- and `outer` absorbed it
    end)
  end)
end)
