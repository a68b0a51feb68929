-- spec/regress/busy-tasks-starting-after-a-ctrl-c-held-the-command_spec.lua
--
-- Broke: three tasks that each print a line and then compute for ever, and one
-- Ctrl-C at the first line. The signal found the first task running and cut it
-- short, and cancelled the root; but the second and third tasks, spawned
-- before it and never started (the first held the CPU), started only after the
-- cancel and computed for ever: nothing interrupted them, and the command
-- stopped only at the next Ctrl-C, which killed it without cleanups. A task
-- that starts once a signal has cancelled the root now has the same grace from
-- its first instruction, and then its Cancelled raised where it is.

local converse = require "converse"

local THREE = [[
local corral = require "corral"
io.stdout:setvbuf("no")
%s
RUN(function()
  corral.group(function(g)
    for i = 1, 3 do
      g:spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          print("cleanup " .. i)
        end })
        print("busy " .. i)
        while true do end
      end)
    end
  end)
end)
]]

local function sorted_lines(text)
  local lines = converse.lines(text)
  table.sort(lines)
  return lines
end

local EVERY = { "busy 1", "busy 2", "busy 3", "cleanup 1", "cleanup 2", "cleanup 3" }

describe("busy tasks that start after a Ctrl-C cancelled the root", function()
  it("are cut short too, under the corral command: one Ctrl-C, every cleanup", function()
    local r = converse.corral(THREE:format(converse.RUN_UNDER_COMMAND),
                              { { expect = "busy 1", send = "SIGINT" } })
    assert.equal(130, r.code, r.stdout .. r.stderr)
    assert.same(EVERY, sorted_lines(r.stdout))
    assert.matches("interrupted by SIGINT", r.stderr)
  end)

  it("are cut short too, under run{signals = true}", function()
    local r = converse.lua(THREE:format(
      "local function RUN(f) print(pcall(corral.run, f, { signals = true })) end"),
                           { { expect = "busy 1", send = "SIGTERM" } })
    assert.equal(0, r.code, r.stdout .. r.stderr)
    local expected = { table.unpack(EVERY) }
    expected[#expected + 1] = "false\tCancelled: SIGTERM (source=signal)"
    assert.same(expected, sorted_lines(r.stdout))
  end)
end)
