-- corral.exec("", args) tried to spawn a program with no name and failed as
-- a missing one ("exec : no such file or directory (ENOENT)"), an I/O error
-- a program might catch and retry, where every other malformed argument is
-- a bad argument naming the call.
local corral = require "corral"

describe("regression: an empty exec path read as a missing program", function()
  it("is a bad argument, in a run and outside one", function()
    corral.run(function()
      local ok, err = pcall(corral.exec, "", {})
      assert.is_false(ok)
      assert.equal("bad argument #1 to 'corral.exec' (path is empty)", err)
      assert.is_false(corral.is_io_error(err))
    end, { clock = "virtual" })
    local ok, err = pcall(corral.exec, "")
    assert.is_false(ok)
    assert.equal("bad argument #1 to 'corral.exec' (path is empty)", err)
  end)
end)
