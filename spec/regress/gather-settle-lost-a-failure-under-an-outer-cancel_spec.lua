-- gather{settle = true}: a call that failed while an outer cancel unwound it
-- (its cleanup raised) was kept only as an entry. When no other call was
-- left running to carry the cancel, gather returned the entries: the
-- failure and the outer Cancelled were both lost. race raised them. Now
-- gather raises the failure in an ErrorGroup, as race does and as the
-- settle option promises.
local corral = require "corral"
local gather = require "corral.gather"

local function cleanup_fails()
  pcall(corral.sleep, 10)              -- the outer deadline interrupts this
  error("cleanup failed", 0)
end

local function under_deadline(fns)
  local ok, err, caught
  corral.run(function()
    local s
    corral.scope(function(sc)
      s = sc
      ok, err = pcall(gather, fns, { settle = true })
    end, { timeout = 1 })
    caught = s.cancel_caught
  end, { clock = "virtual" })
  return ok, err, caught
end

describe("regression: gather{settle = true} under an outer cancel", function()
  it("raises a call's failure when it was the only call", function()
    local ok, err = under_deadline({ cleanup_fails })
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.equal("cleanup failed", err.errors[1])
    assert.equal("gather[1]", err.tasks[1])
  end)

  it("raises it when the other calls had already returned", function()
    local ok, err = under_deadline({ cleanup_fails, function() return "quick" end })
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    assert.equal(1, #err.errors)
    assert.equal("cleanup failed", err.errors[1])
  end)

  it("still returns the entries when nothing failed under the cancel", function()
    local ok, err, caught = under_deadline({ function() return "quick" end })
    assert.is_true(ok)
    assert.same({ ok = true, n = 1, "quick" }, err[1])
    assert.is_false(caught)            -- nothing was interrupted
  end)
end)
