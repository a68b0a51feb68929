-- An ErrorGroup lists its failures in the order they happened. A failure
-- was recorded when its group's on_error returned, so a handler that
-- blocked on one failure (logging it, say) let later failures in first:
-- A failed at 0.1 and B at 0.2, but the group raised [b] B, [a] A.
local corral = require "corral"
local support = require "support"

local function failures_of(opts, n, slow)
  local eg
  support.vrun(function()
    local ok
    ok, eg = pcall(corral.group, function(g)
      for i = 1, n do
        g:spawn({ function() corral.sleep(i / 10); error("E" .. i, 0) end, name = "t" .. i })
      end
    end, opts(slow))
    assert.is_false(ok)
  end)
  return table.concat(eg.errors, ","), table.concat(eg.tasks, ",")
end

local function slow_handler(slow)
  return function(err)
    if slow[err] then corral.sleep(1) end
    return false
  end
end

describe("regression: an on_error handler that blocks", function()
  it("leaves the ErrorGroup in the order of failure (defer_errors)", function()
    local errors, tasks = failures_of(function(slow)
      return { defer_errors = true, on_error = slow_handler(slow) }
    end, 5, { E2 = true, E4 = true })
    assert.equal("E1,E2,E3,E4,E5", errors)
    assert.equal("t1,t2,t3,t4,t5", tasks)
  end)

  it("leaves the ErrorGroup in the order of failure (a failure cancels the rest)", function()
    local errors = failures_of(function(slow)
      return { on_error = slow_handler(slow) }
    end, 2, { E1 = true })
    assert.equal("E1,E2", errors)
  end)

  it("keeps the first max_errors failures in the order they happened", function()
    local eg
    support.vrun(function()
      eg = select(2, pcall(corral.group, function(g)
        for i = 1, 4 do
          g:spawn({ function() corral.sleep(i / 10); error("E" .. i, 0) end, name = "t" .. i })
        end
      end, { defer_errors = true, max_errors = 1, on_error = function(err)
        if err == "E1" then corral.sleep(1) end
      end }))
    end)
    assert.same({ "E1" }, eg.errors)
    assert.same({ "t1" }, eg.tasks)
    assert.equal(3, eg.dropped)
  end)

  it("numbers a group body's failure with its own group, inside another group's on_error", function()
    local tasks, errors
    support.vrun(function()
      pcall(corral.group, function(g)
        g:spawn(function() error("Q", 0) end)            -- the outer group's #1
        g:spawn({ function() corral.sleep(0.1); error("P", 0) end, name = "P" })
      end, { on_error = function(err)
        if err == "Q" then return true end
        local _, e = pcall(corral.group, function(h)
          h:spawn({ function() pcall(corral.sleep, 10); error("cleanup", 0) end, name = "c" })
          corral.sleep(0.1)
          error("body", 0)
        end)
        tasks, errors = table.concat(e.tasks, ","), table.concat(e.errors, ",")
      end })
    end)
    assert.equal("body,cleanup", errors)
    assert.equal("P,c", tasks)
  end)
end)
