-- spec/converse.lua: run a program as a child process and talk to it through
-- its output and signals (`require "converse"`), for the specs that must see a
-- real exit status: the `corral` command and runs with signals on.
--
--   local r = converse.run({ BIN, "script.lua" }, {
--     { expect = "ready", send = "SIGINT" },   -- when this line appears, signal
--     { expect = "stopping", send = "SIGINT" },
--   })
--   r.code, r.signal, r.stdout, r.stderr, r.reached (steps whose line appeared)
--
-- Everything runs under corral itself with a deadline, so a child that hangs
-- fails the spec (and is killed) instead of hanging it. Nothing measures time.

local corral = require "corral"

local converse = {}

--- The corral executable under test.
converse.BIN = os.getenv("CORRAL_BIN")

local LIMIT = tonumber(os.getenv("CONVERSE_LIMIT")) or 30

local read_all = require("support").read_all

-- Read p's stdout; at each complete line that the next step expects, send
-- that step's signal. Returns everything read and the steps reached.
local function follow(p, steps)
  local all, pending, k = {}, "", 1
  while true do
    local chunk = p.stdout:read()
    if not chunk then break end
    all[#all + 1] = chunk
    pending = pending .. chunk
    for line in pending:gmatch("([^\n]*)\n") do
      local step = steps[k]
      if step and line == step.expect then
        if step.send then p:kill(step.send) end
        k = k + 1
      end
    end
    pending = pending:match("[^\n]*$")
  end
  return table.concat(all), k - 1
end

--- Write text to a fresh temporary file; returns its path (remove it yourself).
function converse.tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

--- Run argv ({path, args…}) with `steps`; `stdin` (a string, or nothing) is
--- what it reads on its standard input. (Through `sh -c 'exec … < file'`, so
--- the pid is still the program's: closing a process's stdin pipe ourselves
--- is not safe with today's binding.)
---@return table {code, signal, stdout, stderr, reached}
function converse.run(argv, steps, stdin)
  local r = {}
  local input = stdin and converse.tmpfile(stdin) or "/dev/null"
  local args = { "-c", 'exec "$@" < "$0"', input }
  table.move(argv, 1, #argv, #args + 1, args)
  local ok, err = pcall(corral.run, function()
    corral.fail_after(LIMIT, function()
      local p <close> = corral.exec("/bin/sh", args)
      corral.group(function(g)
        g:spawn(function() r.stderr = read_all(p.stderr) end)
        r.stdout, r.reached = follow(p, steps or {})
      end)
      r.code, r.signal = p:wait()
    end)
  end)
  if stdin then os.remove(input) end
  if not ok then error(err, 0) end
  return r
end

--- Run `corral <script> args…` (the script given as text).
function converse.corral(script, steps, ...)
  assert(converse.BIN, "set CORRAL_BIN to the path of the corral executable")
  local path = converse.tmpfile(script)
  local r = converse.run({ converse.BIN, path, ... }, steps)
  os.remove(path)
  return r
end

--- Run `lua5.4 <script>` (the script given as text), as a user of
--- `require "corral"` would: stock lua's own SIGINT handler is in place.
function converse.lua(script, steps)
  local path = converse.tmpfile(script)
  local r = converse.run({ "lua5.4", path }, steps)
  os.remove(path)
  return r
end

--- A script's `RUN(fn)` line (formatted into it) for each way a program meets
--- the Ctrl-C rules: under the command, where the script is the root (RUN calls
--- fn), and under lua5.4 with `corral.run(fn, {signals = true})`.
converse.RUN_UNDER_COMMAND = "local function RUN(f) f() end"
converse.RUN_UNDER_LUA = "local function RUN(f) corral.run(f, { signals = true }) end"

--- Lines of a text, as a list.
function converse.lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

return converse
