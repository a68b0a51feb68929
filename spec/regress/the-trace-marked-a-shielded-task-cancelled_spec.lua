-- A group's cancel put a "cancelled" mark, and a cancel arrow, on every
-- task below it, a task inside a shielded scope too, which the cancel did
-- not reach: it slept its full time and ended "done", while its track said
-- it was cancelled at 1 s. Only the tasks a cancel reaches are marked, when
-- it reaches them.
local corral = require "corral"
local json = require "dkjson"

-- The names of the tasks a run of fn marks "cancelled" (or points a cancel
-- arrow at) in its trace.
local function marked_by(fn)
  local path = os.tmpname()
  corral.run(fn, { clock = "virtual", trace = path })
  local f = assert(io.open(path))
  local trace = assert(json.decode(f:read("a")))
  f:close()
  os.remove(path)
  local names, marked = {}, {}
  for _, e in ipairs(trace.traceEvents) do
    if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args.name:match("^(.-) #") end
  end
  for _, e in ipairs(trace.traceEvents) do
    if e.cat == "cancelled" or (e.cat == "flow" and e.name == "cancel" and e.ph == "f") then
      marked[names[e.tid]] = true
    end
  end
  return marked
end

describe("regression: the trace marked a shielded task cancelled", function()
  it("marks only the tasks the cancel reached", function()
    local marked = marked_by(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.scope(function() corral.sleep(10) end, { shield = true })
        end, name = "shielded" })
        g:spawn({ function() corral.sleep(10) end, name = "plain" })
        corral.sleep(1)
        g:cancel("stop")
      end)
    end)
    assert.is_true(marked.plain)
    assert.is_nil(marked.shielded)
  end)

  -- (the first fix never marked one that the cancel reached later, once it
  -- had left its shield, though it ended cancelled)
  it("marks a task when the cancel reaches it, after its shield", function()
    local marked = marked_by(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.scope(function() corral.sleep(2) end, { shield = true })
          corral.sleep(5)
        end, name = "later" })
        g:spawn({ function()
          corral.scope(function() corral.sleep(3) end, { shield = true })
        end, name = "never" })
        corral.sleep(1)
        g:cancel("stop")
      end)
    end)
    assert.is_true(marked.later)
    assert.is_nil(marked.never)
  end)

  -- (the second fix marked one whose failure unwound its shield: the
  -- task was cancelled then, but ended by its error, not by the cancel)
  it("not a task that fails inside its shield", function()
    local marked = marked_by(function()
      pcall(corral.group, function(g)
        g:spawn({ function()
          corral.scope(function() corral.sleep(2); error("x", 0) end, { shield = true })
        end, name = "failed_in" })
        corral.sleep(1)
        g:cancel("stop")
      end)
    end)
    assert.is_nil(marked.failed_in)
  end)

  -- (the third fix paid what was owed at any resume of a cancelled task:
  -- a deadline inside the shield marked the outer cancel there, and a
  -- scope long exited was marked at an unrelated deadline later)
  it("marks the cancel owed only when that cancel is what reaches the task", function()
    local at, path = {}, os.tmpname()
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.scope(function()
            corral.scope(function() corral.sleep(5) end, { timeout = 2 })
            corral.sleep(3)                   -- shielded until 5 s
          end, { shield = true })
          corral.sleep(1)
        end, name = "inner_deadline" })
        local S
        g:spawn({ function()
          corral.scope(function(s)
            S = s
            corral.scope(function() corral.sleep(2) end, { shield = true })
            corral.sleep(1)                   -- S absorbs its own cancel
          end)
          corral.scope(function() corral.sleep(10) end, { timeout = 1 })
          corral.sleep(20)
        end, name = "exited" })
        corral.sleep(1)
        S:cancel("S")
        g:cancel("stop")
      end)
    end, { clock = "virtual", trace = path })
    local f = assert(io.open(path))
    local trace = assert(json.decode(f:read("a")))
    f:close()
    os.remove(path)
    local names = {}
    for _, e in ipairs(trace.traceEvents) do
      if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args.name:match("^(.-) #") end
    end
    for _, e in ipairs(trace.traceEvents) do
      if e.cat == "cancelled" then
        local n = names[e.tid]
        at[n] = at[n] or {}
        table.insert(at[n], { ts = e.ts, reason = e.args.reason })
      end
    end
    assert.equal(1, #at.inner_deadline)
    assert.equal("stop", at.inner_deadline[1].reason)
    assert.is_true(at.inner_deadline[1].ts >= 5e6)     -- when it left the shield
    for _, m in ipairs(at.exited or {}) do assert.are_not.equal("S", m.reason) end
  end)

  -- (a second hidden cancel, of an inner scope, took the first's place, and
  -- once that scope had exited the task ended cancelled with no mark)
  it("keeps the first cancel a shield hid", function()
    local marked = marked_by(function()
      local B, G
      corral.group(function(outer)
        outer:spawn(function()
          corral.group(function(g)
            G = g
            g:spawn({ function()
              corral.scope(function(s)
                B = s
                corral.scope(function() corral.sleep(5) end, { shield = true })
                pcall(corral.sleep, 1)
              end)
              corral.sleep(3)
            end, name = "two" })
            corral.sleep(100)
          end)
        end)
        corral.sleep(1)
        G:cancel("G")
        corral.sleep(1)
        B:cancel("B")
      end)
    end)
    assert.is_true(marked.two)
  end)

  -- (a scope's opener, cancelled by another task, was marked by another path)
  it("nor the opener of the scope, inside a shield of its own", function()
    local marked = marked_by(function()
      local s
      corral.group(function(g)
        g:spawn({ function() corral.sleep(1); s:cancel("x") end, name = "canceller" })
        corral.scope(function(scope)
          s = scope
          corral.scope(function() corral.sleep(2) end, { shield = true })
        end)
      end)
    end)
    assert.is_nil(marked["task-1"])
  end)
end)
