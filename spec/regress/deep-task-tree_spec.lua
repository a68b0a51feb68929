-- corral.tree, the deadlock report, the SIGUSR1 dump and the trace walked the
-- task tree by recursion in C, one frame per level: a chain of tasks each
-- opening a group for the next (nothing limits its depth, each task runs on
-- its own coroutine) overflowed the C stack at a few thousand levels.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

-- A chain of n tasks, each in a group opened by the one before; fn runs in
-- the innermost.
local function chain(n, fn)
  local function level(k)
    if k == 0 then return fn() end
    corral.group(function(g) g:spawn(level, k - 1) end)
  end
  level(n)
end

describe("regression: a task tree thousands of levels deep", function()
  it("corral.tree draws the first levels and says how many more there are", function()
    local text, tab
    vrun(function()
      chain(5000, function()
        text = corral.tree()
        tab = corral.tree({ format = "table" })
      end)
    end)
    assert.matches("more nested below, not shown", text)
    assert.is_table(tab)
  end)

  it("a trace of a deep chain is written", function()
    local path = os.tmpname()
    vrun(function()
      chain(300, function() corral.sleep(1) end)
    end, { trace = path })
    local f = assert(io.open(path, "rb"))
    local json = f:read("a")
    f:close()
    os.remove(path)
    assert.matches('"traceEvents"', json)
  end)
end)
