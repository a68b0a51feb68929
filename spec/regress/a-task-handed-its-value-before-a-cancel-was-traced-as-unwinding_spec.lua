-- The trace drew the resume of a task woken with what it waited for, and then
-- reached by a cancel before it ran (its group cancelled, or t:cancel), as an
-- "unwinding" slice: the call it resumes in returns what it was handed, and the
-- task runs on to its next cancellation point, as the tree already said ("woken
-- with what it waited for, then a Cancelled"). The engine's run event now says
-- the task resumes with what it was handed, and that slice is a "run" one; a
-- task woken by the cancel itself still unwinds in an "unwinding" slice.
local corral = require "corral"
local json = require "dkjson"

local function traced(fn)
  local path = os.tmpname()
  local ok, err = pcall(corral.run, fn, { clock = "virtual", trace = path })
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  os.remove(path)
  assert(ok, err)
  return assert(json.decode(text)).traceEvents
end

-- the run slices of the task named `name`, in time order
local function run_slices(events, name)
  local tid
  for _, e in ipairs(events) do
    if e.ph == "M" and e.name == "thread_name" and e.args.name:match("^(.-) #") == name then
      tid = e.tid
    end
  end
  local list = {}
  for _, e in ipairs(events) do
    if e.ph == "X" and e.tid == tid and e.cat ~= "wait" then list[#list + 1] = e end
  end
  table.sort(list, function(a, b) return a.ts < b.ts end)
  return list
end

describe("regression: the trace of a task handed its value before a cancel", function()
  it("draws its resume as a run slice, and a task the cancel woke as unwinding", function()
    local got
    local events = traced(function()
      local ch = corral.channel(1)
      corral.group(function(g)
        g:spawn({ function()
          got = ch:recv()                         -- handed "v", then cancelled
          corral.checkpoint()                     -- raises here
          got = "not cancelled"
        end, name = "reader" })
        g:spawn({ function() corral.sleep(5) end, name = "sleeper" })
        corral.sleep(1)
        ch:send("v")                              -- wakes the reader: queued
        g:cancel("stop")                          -- before it ran again
      end)
    end)
    assert.equal("v", got)
    -- run (to the recv), the resume with "v" (a run slice, though the cancel
    -- reaches it), then the checkpoint gives way and raises: unwinding
    local reader = run_slices(events, "reader")
    assert.same({ "run", "run", "unwinding" },
      { reader[1].cat, reader[2].cat, reader[3].cat })
    assert.equal(3, #reader)
    assert.equal("run, handed its value before a cancel", reader[2].name)
    local sleeper = run_slices(events, "sleeper")
    assert.equal("unwinding", sleeper[#sleeper].cat)
    assert.equal("unwinding", sleeper[#sleeper].name)
  end)

  it("does the same after the task's own t:cancel", function()
    local events = traced(function()
      local ch = corral.channel(1)
      corral.group(function(g)
        local t = g:spawn({ function() return ch:recv() end, name = "reader" })
        corral.sleep(1)
        ch:send("v")
        t:cancel("late")
        assert.same({ true, "v" }, { t:wait() })
      end)
    end)
    local reader = run_slices(events, "reader")
    assert.equal("run, handed its value before a cancel", reader[#reader].name)
  end)
end)
