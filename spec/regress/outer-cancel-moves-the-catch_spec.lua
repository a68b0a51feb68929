-- Which scope absorbs a Cancelled is decided when it reaches each scope's exit
-- (Trio's rule). The binding used to decide when it was raised, by comparing
-- scope ids, so g:cancel() swallowed an outer cancel that arrived while the
-- group waited for a child's shielded cleanup: CPython's gh-155433.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

-- A child that, once cancelled, cleans up for `secs` in a shielded scope.
local function slow_cleanup(secs)
  return function()
    local ok, e = pcall(corral.sleep, math.huge)
    corral.scope(function() corral.sleep(secs) end, { shield = true })
    error(e, 0)
  end
end

describe("regression: an outer cancel during unwinding moves the catch outward", function()
  it("fail_after around a group that cancels itself raises Timeout when the cleanup ends (gh-155433)", function()
    local at
    local err = support.raises(vrun, function()
      local ok, e = pcall(corral.fail_after, 0.5, function()
        corral.group(function(g)
          g:spawn(slow_cleanup(1))
          corral.sleep(0.1)
          g:cancel("inner")
        end)
        error("the group returned normally")
      end)
      at = corral.now()
      error(e, 0)
    end)
    assert.is_true(corral.is_timeout(err))
    assert.equal(1.1, at)
  end)

  it("the group's Cancelled passes out with the outer scope's reason; the group has not caught it", function()
    local g_seen, e_seen
    vrun(function()
      corral.scope(function(outer)
        corral.group(function(top)
          top:spawn(function() corral.sleep(0.3); outer:cancel("outer") end)
          local ok, e = pcall(corral.group, function(g)
            g_seen = g
            g:spawn(slow_cleanup(1))
            corral.sleep(0.1)
            g:cancel("inner")
          end)
          e_seen = e
          error(e, 0)
        end)
      end)
    end)
    assert.is_true(corral.is_cancelled(e_seen))
    assert.equal("outer", e_seen.reason)
    assert.is_true(g_seen.cancel_called)
    assert.is_false(g_seen.cancel_caught)
  end)

  it("a Cancelled caught by pcall and re-raised after an outer cancel goes to the outer scope", function()
    local inner_scope, log = nil, support.log()
    vrun(function()
      corral.scope(function(outer)
        corral.scope(function(inner)
          inner_scope = inner
          inner:cancel("inner")
          local ok, e = pcall(corral.checkpoint)
          assert.equal("inner", e.reason)
          outer:cancel("outer")     -- arrives while the Cancelled unwinds
          error(e, 0)
        end)
        log:stamp("not reached: the inner scope must not absorb it")
      end)
      log:stamp("outer absorbed it")
    end)
    assert.same({ "outer absorbed it@0" }, log.items)
    assert.is_false(inner_scope.cancel_caught)
  end)

  it("a task cancelled while its cancelled group waits for a shielded cleanup ends cancelled", function()
    local outer_task, log = nil, support.log()
    vrun(function()
      corral.group(function(top)
        outer_task = top:spawn(function()
          corral.group(function(g)
            g:spawn(slow_cleanup(1))
            corral.sleep(0.1)
            g:cancel()
          end)
          log:stamp("ran on after its own cancel")
        end)
        corral.sleep(0.5)
        outer_task:cancel("from top")
      end)
    end)
    assert.same({}, log.items)
    assert.equal("cancelled", outer_task.status)
  end)

  it("g:cancel() alone is still absorbed by the group, which returns the body's results", function()
    local r = table.pack(vrun(function()
      return corral.group(function(g)
        g:spawn(slow_cleanup(1))
        corral.sleep(0.1)
        g:cancel()
        return "body", "results"
      end)
    end))
    assert.same({ "body", "results", n = 2 }, r)
  end)
end)

describe("docs/model.md's example of the exit-time rule", function()
  local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end

  it("runs as shown and prints the Timeout at 1.1 s", function()
    local p = assert(io.popen("lua5.4 scripts/examples/outer_timeout.lua 2>&1"))
    local out = p:read("a")
    p:close()
    assert.equal("at 1.1 s: Timeout: deadline passed after 0.5s\n", out)
  end)

  it("is shown in docs/model.md verbatim from scripts/examples/outer_timeout.lua", function()
    local page, example = read("docs/model.md"), read("scripts/examples/outer_timeout.lua")
    local block = page:match("runs it:\n\n```lua\n(.-)%-%->")
    assert.is_string(block)
    assert.truthy(example:find(block, 1, true))
  end)
end)
