-- spec/regress/a-lost-kill-of-a-quick-triple-ctrl-c-killed-at-a-later-one_spec.lua
--
-- Broke (between two commits of one session): three quick Ctrl-C while a task
-- was stuck in a C call (here io.read) arm a check that, half a second after the
-- first, sends the signal to the run again, marked "kill". When that came while
-- the task had moved on into os.execute (system() ignores SIGINT while its
-- command runs), the signal was dropped but the mark stayed, and a single Ctrl-C
-- long after, with a task waiting for SIGINT, killed the process. The mark now
-- counts only while the loop has still delivered nothing.

local converse = require "converse"
local support = require "support"

local PROGRAM = [[
local corral = require "corral"
io.stdout:setvbuf("no")
%s
RUN(function()
  corral.group(function(g)
    g:spawn(function()
      while true do corral.signal("SIGINT"); print("woke") end
    end)
    g:spawn(function()
      corral.checkpoint()              -- the waiter is parked
      print("ready")
      io.read("l")                     -- stuck until the driver writes
      os.execute("sleep 1")            -- the check comes in here
      print("after execute")
      corral.sleep(2)                  -- the late Ctrl-C comes in here
      g:cancel()
    end)
  end)
end)
print("done")
]]

-- Three SIGINTs 20 ms apart while the program reads, a line 200 ms later, one
-- more SIGINT 2 s after that.
local DRIVER = [[
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
mkfifo "$D/in"
"$@" < "$D/in" > "$D/out" 2>&1 & P=$!
exec 7> "$D/in"
until grep -q ready "$D/out"; do sleep 0.01; done
kill -INT $P; sleep 0.02; kill -INT $P; sleep 0.02; kill -INT $P
sleep 0.2; echo line >&7
sleep 2; kill -INT $P
exec 7>&-
wait $P; echo "status $?"; cat "$D/out"
]]

local function drive(...)
  local path = converse.tmpfile(DRIVER)
  local cmd = { "timeout 30 sh", path }
  for _, a in ipairs({ ... }) do cmd[#cmd + 1] = a end
  local out = support.sh(table.concat(cmd, " "))
  os.remove(path)
  return out
end

local function check(out)
  assert.matches("^status 0\n", out)
  assert.matches("\nafter execute\n", out)
  assert.matches("\ndone\n", out)
  local _, wakes = out:gsub("\nwoke", "")
  assert.is_true(wakes >= 2, out)      -- the three, then the late one
end

describe("a quick triple Ctrl-C whose kill was lost in os.execute", function()
  it("leaves a later Ctrl-C to the waiter, under the corral command", function()
    local script = converse.tmpfile(PROGRAM:format(converse.RUN_UNDER_COMMAND))
    local out = drive(converse.BIN, script)
    os.remove(script)
    check(out)
  end)

  it("leaves a later Ctrl-C to the waiter, under run{signals = true}", function()
    local script = converse.tmpfile(PROGRAM:format(converse.RUN_UNDER_LUA))
    local out = drive("lua5.4", script)
    os.remove(script)
    check(out)
  end)
end)
