-- Regression: e:render{tracebacks = "no"} rendered the tracebacks, as any
-- value but nil and false was taken as true; every other boolean option of
-- corral (defer_errors, shield) refuses a non-boolean.
local corral = require "corral"

describe("regression: ErrorGroup:render's tracebacks option", function()
  local eg = corral.error_group({ "boom" }, { "t1" }, { "stack traceback:\n\tx.lua:1: in f" })

  it("refuses a value that is not a boolean, naming it", function()
    for _, v in ipairs({ "no", 0, {} }) do
      assert.error_matches(function() eg:render({ tracebacks = v }) end,
        "bad argument #1 to 'render' %(tracebacks must be a boolean, got " .. type(v) .. "%)")
    end
  end)

  it("still takes true, false and nil", function()
    assert.matches("x.lua:1: in f", eg:render({ tracebacks = true }))
    assert.not_matches("x.lua:1", eg:render({ tracebacks = false }))
    assert.not_matches("x.lua:1", eg:render({}))
  end)
end)
