-- supervisor.run ignored the children it could not reach with 1..#children:
-- children = {worker = {...}} supervised nothing and {c1, [3] = c3} dropped
-- c3, silently, though option tables are checked. Such a key is now a bad
-- argument that names supervisor.run and the key.
local support = require "support"
local supervisor = require "corral.supervisor"

local function child(name) return { name = name, fn = function(c) c:wait_stopping() end } end

local function rejects(children, complaint)
  support.vrun(function()
    support.assert_arg_error(1, "supervisor.run", complaint, function()
      supervisor.run({ children = children }, function(sup) sup:stop() end)
    end)
  end)
end

describe("regression: a children table that is not a list", function()
  it("is rejected, naming a key that is not an index", function()
    rejects({ worker = child("worker") }, "children must be a list, got key 'worker'")
    rejects({ child("a"), [0] = child("z") }, "children must be a list, got key [0]")
    rejects({ child("a"), [true] = child("z") }, "children must be a list, got key [true]")
  end)

  it("is rejected, naming the entry after a hole", function()
    rejects({ child("a"), [3] = child("c") },
      "children must be a list without holes, got children[3] but no children[2]")
  end)
end)
