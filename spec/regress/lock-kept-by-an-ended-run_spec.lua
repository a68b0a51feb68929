-- A lock that a task kept when its run ended: for a while in this release it
-- could be freed by nobody (release outside any run raised "held by another
-- task", as it does inside a later run, and acquire waited for ever).
-- Outside any run its holder is gone and releasing it frees it; inside a run
-- only the holder may release it (see lock-holder-id-from-an-earlier-run).
local corral = require "corral"
local support = require "support"

describe("regression: a lock kept by a task of an ended run", function()
  it("is freed by a release outside any run", function()
    local l = corral.lock()
    support.vrun(function()
      corral.group(function(g) g:spawn(function() l:acquire() end) end)
    end)
    l:release()
    assert.is_false(l.locked)
    support.vrun(function()
      l:acquire()                        -- free again: no deadlock
      l:release()
    end)
  end)

  it("cannot be released in its holder's run by another task", function()
    local l, err = corral.lock(), nil
    support.vrun(function()
      corral.group(function(g) g:spawn(function() l:acquire() end) end)
      err = select(2, pcall(l.release, l))
    end)
    assert.truthy(tostring(err):find("held by another task", 1, true), tostring(err))
    l:release()
  end)
end)
