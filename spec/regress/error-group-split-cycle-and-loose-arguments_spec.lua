-- e:split(pred) on an ErrorGroup that contains itself recursed until
-- "stack overflow" (rendering and flatten already coped: a group found
-- inside itself is not entered again, and now split does the same);
-- corral.error_group took a hole in `tasks` and built a group whose
-- failures past the hole were lost; `limit` and `max_errors` took numeric
-- strings although they are integers.
local corral = require "corral"

describe("regression: ErrorGroups and loose arguments", function()
  it("split does not enter a group found inside itself", function()
    local eg = corral.error_group({ "x", "y" }, { "a", "b" })
    eg.errors[2] = eg
    local yes, no = eg:split(function(v) return v == "x" end)
    assert.same({ "x" }, yes.errors)
    assert.is_nil(no)
  end)

  it("error_group refuses a hole in tasks", function()
    local ok, err = pcall(corral.error_group, { "a", nil, "c" }, { "x", nil, "z" })
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'error_group' %(tasks%[2%] must be a string, got nil%)", err)
  end)

  it("limit and max_errors must be numbers", function()
    corral.run(function()
      for _, k in ipairs({ "limit", "max_errors" }) do
        local ok, err = pcall(corral.group, function() end, { [k] = "3" })
        assert.is_false(ok)
        assert.matches(k .. " must be an integer >= 1", err, 1, true)
      end
    end)
  end)
end)
