-- A supervised child that failed with the error value false (error(false)) was
-- restarted as a failure, yet `failed and out.err or nil` turned its error into
-- nil: on_restart got nil and the give-up ErrorGroup said the child "returned".
-- Raw error values, false and nil included, now go through as they are.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

describe("regression: a supervised child that failed with false", function()
  it("reaches on_restart and the give-up ErrorGroup as false", function()
    local seen = {}
    local ok, eg = pcall(support.vrun, function()
      supervisor.run({ intensity = 1,
        on_restart = function(name, err) seen[#seen + 1] = err end,
        children = { { name = "w", restart = "transient",
                       fn = function() error(false) end } } })
    end)
    assert.is_false(ok)
    assert.same({ false }, seen)
    assert.equal(2, #eg.tasks)
    assert.is_false(eg.errors[1])
    assert.is_false(eg.errors[2])
  end)
end)
