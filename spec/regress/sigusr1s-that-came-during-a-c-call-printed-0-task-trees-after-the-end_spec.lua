-- spec/regress/sigusr1s-that-came-during-a-c-call-printed-0-task-trees-after-the-end_spec.lua
--
-- Broke (0.26.2): SIGUSR1s sent while the script's last task blocked in a C
-- call (os.execute, io.read) wait in libuv's pipe until the loop turns; when
-- the script ended in that call, they were delivered after the run and each
-- printed a tree of "0 tasks" to stderr: one empty tree per signal, after the
-- program's own output. After the run the debug signal does nothing; while
-- tasks live, a tree still comes for each arrival once the loop turns.

local support = require "support"

local function script(after)
  return ([[
local corral = require "corral"
local pid = io.open("/proc/self/stat"):read("n")
for _ = 1, 3 do os.execute("kill -USR1 " .. pid .. "; sleep 0.02") end
io.stderr:write("sent\n")
%s
]]):format(after)
end

describe("SIGUSR1s that arrived during a C call", function()
  it("print nothing once the script has ended", function()
    local code, err = support.command_stderr(script(""))
    assert.equal(0, code)
    assert.matches("sent", err, 1, true)
    assert.is_nil(err:find("corral tree", 1, true), err)
  end)

  it("still print the tree when the loop turns while the script runs", function()
    local code, err = support.command_stderr(script("corral.sleep(0.05)"))
    assert.equal(0, code)
    local trees = select(2, err:gsub("corral tree at", ""))
    assert.equal(3, trees, err)
    assert.is_nil(err:find("0 tasks", 1, true), err)
  end)
end)
