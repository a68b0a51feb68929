-- corral.cli: the `corral` command. build/corral embeds this file, so the
-- binary needs nothing on disk; from stock lua5.4 the same entry point is
--   os.exit(require("corral.cli").main(arg, {progname = "corral"}))
--
-- main(argv, info) -> exit status. argv is the command line without the
-- program name (argv[0] is the program name); info carries what only C
-- knows: progname, version, lua, libuv, stdin_is_tty.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
local debug, error, io, ipairs, load, loadfile, math, os, package, pairs, pcall,
  rawequal, rawget, require, table, tostring, type, warn, xpcall =
  debug, error, io, ipairs, load, loadfile, math, os, package, pairs, pcall, rawequal,
  rawget, require, table, tostring, type, warn, xpcall
-- The globals table itself (the chunk's _ENV), for what lua sets in it
-- before the program runs; what it reads and sets as the program runs (arg,
-- the require of -l, -l's global) goes through C, as lua's does, which a
-- strict-mode metatable allows.
local G = _ENV
-- The library functions the error path uses once the script has run, as
-- they are now: a script may replace debug.traceback (as StackTracePlus
-- asks) or drop string.find, and its own error must still be printed
-- (hence no string methods there either: `getmetatable("").__index = nil`).
local getinfo, rawmeta, traceback = debug.getinfo, debug.getmetatable, debug.traceback
local concat, pack, remove, unpack =
  table.concat, table.pack, table.remove, table.unpack
local find, format, gmatch, lower, match, sub =
  string.find, string.format, string.gmatch, string.lower, string.match, string.sub
local max, min = math.max, math.min
-- The process's standard error and its write, as now: lua prints its errors
-- there (from C) whatever a script does to io.stderr (sets it to nil, or to
-- a log file, or removes the file's methods).
local stderr, fwrite = io.stderr, io.stderr.write
local function eprint(...) fwrite(stderr, ...) end
local corral = require "corral"
-- corral's own functions as they are now too: a script that replaces or
-- removes one (a mock, a sandbox stripping the module) must still have its
-- error printed and its status right.
local getglobal, setglobal = corral._getglobal, corral._setglobal
local is_cancelled, is_error_group = corral.is_cancelled, corral.is_error_group
local corral_run, trace_failed, stuck_tree =
  corral.run, corral._trace_failed, corral._stuck_tree

local M = {}

local USAGE = [==[
usage: %s [options] [script [args]]
Available options are:
  -e stat        execute string 'stat'
  -l mod         require library 'mod' into global 'mod'
  -l g=mod       require library 'mod' into global 'g'
  -v, --version  show version information
  -h, --help     show this help
  -W             turn warnings on
  -E             ignore environment variables (LUA_INIT, LUA_PATH, LUA_CPATH)
  --trace file   write a Chrome trace-event timeline of the run to file
                 (--trace=file too)
  --             stop handling options
  -              stop handling options and execute stdin
With no script, no -e and no -v, the script is read from stdin unless
stdin is a terminal (there is no interactive mode). The script runs as the
root task of corral.run on the real clock with signals on; `man corral`
for Ctrl-C.
Exit status: 0 success, 1 error, 2 usage, 130/143 interrupted by
SIGINT/SIGTERM. SIGUSR1 prints the task tree to stderr and goes on.
`%s trace-svg trace.json > trace.svg` draws a trace as an SVG timeline.
]==]

-- Options in one table, so a new one is one entry: `arg` says it takes a
-- value (attached, as in -eSTAT, or the next word), and `apply` records it
-- in the plan; options that set run options (--trace) write plan.run_opts.
local OPTIONS = {
  ["-e"] = { arg = true, apply = function(plan, v)
    plan.actions[#plan.actions + 1] = { kind = "e", code = v }
  end },
  ["-l"] = { arg = true, apply = function(plan, v)
    local g, mod = match(v, "^([^=]*)=(.*)$")      -- at the first "=", as lua
    plan.actions[#plan.actions + 1] = { kind = "l", global = g or v, mod = mod or v }
  end },
  ["-v"] = { apply = function(plan) plan.version = true end },
  ["-h"] = { apply = function(plan) plan.help = true end },
  ["-W"] = { apply = function(plan) plan.warnings = true end },
  ["-E"] = { apply = function(plan) plan.no_env = true end },  -- LUA_INIT, LUA_PATH, LUA_CPATH
  ["--trace"] = { arg = true, apply = function(plan, v)
    plan.run_opts.trace = v
  end },
}
OPTIONS["--version"] = OPTIONS["-v"]
OPTIONS["--help"] = OPTIONS["-h"]

local function usage_error(info, msg)
  eprint(info.progname, ": ", msg, "\n", format(USAGE, info.progname, info.progname))
  return 2
end

-- Whether path is a regular file there already whose start is not a
-- trace's. (Only a regular file is opened: a FIFO would block the open, and
-- /dev/stdout on a pipe the read.) `regular` is info.is_regular.
local function not_a_trace(path, regular)
  if not (regular and regular(path)) then return false end
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(16)
  f:close()
  return head ~= nil and head ~= "" and not match(head, "^%s*[{%[]")
end

-- Parse argv into a plan, or return nil and the usage error's message.
local function parse(argv, info)
  -- SIGUSR1 prints corral.tree() to stderr (an unreferenced watcher: it
  -- neither keeps the run alive nor disturbs it).
  local plan = { actions = {}, run_opts = { signals = true, debug_signal = "SIGUSR1" } }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then i = i + 1; break end
    if a == "-" or sub(a, 1, 1) ~= "-" then break end
    local name, value = a, nil
    local opt = OPTIONS[a]
    if not opt and not match(a, "^%-%-") then  -- -eSTAT, -lmod
      name, value = sub(a, 1, 2), sub(a, 3)
      opt = OPTIONS[name]
      if opt and not opt.arg then opt = nil end
    elseif not opt then                          -- --trace=FILE, as GNU tools
      local long, v = match(a, "^(%-%-[^=]+)=(.*)$")
      opt = long and OPTIONS[long]
      if opt and opt.arg then name, value = long, v ~= "" and v or nil
      else opt = nil end
      if opt and value == nil then return nil, format("'%s' needs an argument", long) end
    end
    if not opt then return nil, format("unrecognized option '%s'", a) end
    if opt.arg and value == nil then
      i = i + 1
      value = argv[i]
      -- as lua: a next word that is an option (`-l -e x`) is no value
      if value == nil or sub(value, 1, 1) == "-" then
        return nil, format("'%s' needs an argument", name)
      end
    end
    opt.apply(plan, value)
    i = i + 1
  end
  plan.script = i <= #argv and i or nil
  -- `corral --trace hi.lua` (the trace file forgotten) would read the script
  -- from stdin and write the trace over hi.lua; `corral --trace app.lua
  -- other.lua`, over app.lua. A trace is never named *.lua; and when the
  -- script would come from stdin, a file there already that is not a trace
  -- (a script without the suffix, run by its #! line) is not written over;
  -- nor is the script itself, whatever its name (`--trace app app`).
  local trace = plan.run_opts.trace
  -- (a script named by a path that is the standard input's pipe or device,
  -- /dev/stdin however spelled, comes from stdin too; a regular file that
  -- stdin also happens to be is read from its path)
  local named = plan.script and argv[plan.script]
  local reads_stdin = not named or named == "-" or
    (info.is_stdin and info.is_stdin(named) and not info.is_regular(named)) == true
  for _, a in ipairs(plan.actions) do reads_stdin = reads_stdin and a.kind ~= "e" end
  local is_script = not reads_stdin and plan.script and info.same_file
    and info.same_file(trace or "", argv[plan.script])
  if trace and (match(lower(trace), "%.lua$") or is_script or
                (reads_stdin and not_a_trace(trace, info.is_regular))) then
    return nil, format("--trace %s: that looks like a script, and the trace would "
      .. "overwrite it; name the trace file first: --trace trace.json %s", trace, trace)
  end
  return plan
end

-- The global `arg`, as lua sets it: arg[0] the script, negative indices the
-- program and its options, 1.. the script's arguments.
local function arg_table(argv, script)
  local t, base = {}, script or 0
  for j = 0, #argv do t[j - base] = argv[j] end
  return t
end

local function version_string(info)
  return format("corral %s (%s, libuv %s)", info.version or corral._VERSION,
    info.lua or _VERSION, info.libuv or "?")
end

-- LUA_INIT_5_4 or LUA_INIT compiled, as lua reads it: "@file" or a chunk;
-- nil when neither is set; nil and the message when it does not compile.
local function load_lua_init()
  local name, init = "LUA_INIT_5_4", os.getenv("LUA_INIT_5_4")
  if not init then name, init = "LUA_INIT", os.getenv("LUA_INIT") end
  if not init then return nil end
  if sub(init, 1, 1) == "@" then return loadfile(sub(init, 2)) end
  return load(init, "=" .. name)
end

-- Compile everything before anything runs: a syntax error costs nothing.
local function compile(plan, argv)
  if not plan.no_env then
    local f, err = load_lua_init()
    if err then return nil, err end
    plan.init = f
  end
  for _, a in ipairs(plan.actions) do
    if a.kind == "e" then
      local f, err = load(a.code, "=(command line)")
      if not f then return nil, err end
      a.fn = f
    end
  end
  if plan.script then
    local path = argv[plan.script]
    -- "-- -" names a file called "-", but a "-" added for want of a script
    -- ("corral --" too) is stdin
    local stdin = plan.stdin or (path == "-" and argv[plan.script - 1] ~= "--")
    local f, err = loadfile(not stdin and path or nil)
    if not f then return nil, err end
    plan.chunk = f
  end
  return true
end

-- The script's arguments, as lua takes them: from the global `arg` as it
-- is when the script starts (an -e may have changed it).
local function script_args()
  local a = getglobal("arg")
  if type(a) ~= "table" then error("'arg' is not a table", 0) end
  local n, args = #a, {}
  if n > 999000 then error("stack overflow (too many arguments to script)", 0) end
  for i = 1, n do args[i] = rawget(a, i) end
  return args, n
end

-- What runs before the script: LUA_INIT, then -l and -e in order, each
-- called as lua calls it (from C, so a chunk is "main chunk" in a
-- traceback); protect(f, ...) raises f's error after taking its traceback.
local function prelude(plan, protect)
  if plan.init then protect(plan.init) end
  for _, a in ipairs(plan.actions) do
    if a.kind == "e" then protect(a.fn)
    else setglobal(a.global, protect(getglobal("require"), a.mod)) end
  end
end

-- tostring(e) that never raises: an error value whose __tostring fails must
-- not hide the error.
local describe = corral._describe

-- An error as lua prints it: a string or number as it is, a value with
-- __tostring through it, anything else "(error object is a <type> value)".
local function error_text(e)
  local t = type(e)
  if t == "string" or t == "number" then return tostring(e) end
  local mt = rawmeta(e)
  local ts = type(mt) == "table" and rawget(mt, "__tostring")
  if ts ~= nil and ts ~= false then
    local ok, s = pcall(ts, e)
    if ok and type(s) == "string" then return s end     -- as lua: a string only
    -- (lua prints the error of a __tostring that raises, which hides
    -- where the real error came from: this names it, with its traceback)
    if not ok then return describe(e) end
  end
  return format("(error object is a %s value)", t)
end

-- A traceback as lua prints it: the user's frames, then the C caller; none
-- of this command's own (from the xpcall it calls the user's code with).
local function user_traceback(tb)
  local cut = find(tb, "\n\t%[C%]: in function 'xpcall'\n\tcorral%.cli:")
  return cut and sub(tb, 1, cut) .. "\t[C]: in ?" or tb
end

-- The frame lines of a traceback (a tail-call note stays with its frame).
local function frame_lines(tb)
  local list = {}
  for line in gmatch(tb, "\n\t([^\n]*)") do
    if line == "(...tail calls...)" and #list > 0 then
      list[#list] = list[#list] .. "\n\t" .. line
    elseif not find(line, "^%.%.%.\t%(skipping") then
      list[#list + 1] = line
    end
  end
  return list
end

-- The deepest level that exists, as the caller counts levels, from `from`
-- which does (a level is found in time proportional to it: a search, so
-- that a stack overflow's 200,000 levels stay cheap).
local function deepest(from)
  local function exists(n) return getinfo(n + 2, "l") ~= nil end
  local lo, hi = from, from + 1
  while exists(hi) do lo, hi = hi, hi * 2 end
  while hi - lo > 1 do
    local mid = (lo + hi) // 2
    if exists(mid) then lo = mid else hi = mid end
  end
  return lo
end

-- How many levels from `level` (as debug.getinfo counts them in the caller)
-- are the user's: down to the xpcall this command called them with, which
-- is among the last few levels.
local function user_levels(level)
  level = level + 1                      -- (this function's own frame)
  local last = deepest(level)
  for n = last, max(level, last - 16), -1 do
    local info = getinfo(n, "Sf")
    local below = getinfo(n + 1, "S")
    if info.func == xpcall and below and below.source == "=corral.cli" then
      return n - level
    end
  end
  return nil
end

-- n frame lines of the user's levels from..from+n-1, where user level 0 is
-- level `abs` as the caller counts them. debug.traceback cuts a long stack
-- after its first 10 levels, so they are read 10 at a time.
local function user_frames(abs, from, n)
  local out = {}
  while #out < n do
    local lines = frame_lines(traceback(nil, abs + 1 + from + #out))
    if #lines == 0 then break end        -- (no frames where levels are)
    for i = 1, min(10, n - #out) do out[#out + 1] = lines[i] end
  end
  return out
end

-- lua's traceback of the user's frames from `level` of the caller, its
-- long-stack cut included: lua's own stack ends in one C level, and past 22
-- levels lua shows the first 10 and the last 11 (its count of the rest is
-- one short); this stack ends in the command's frames instead.
local function lua_traceback(level)
  local abs = level + 1                  -- the user's first level, here
  local u = user_levels(abs)
  if not u then return user_traceback(traceback(nil, abs)) end
  local out = { "stack traceback:" }
  local function add(list) for _, f in ipairs(list) do out[#out + 1] = f end end
  if u + 1 <= 22 then
    add(user_frames(abs, 0, u))
  else
    add(user_frames(abs, 0, 10))
    out[#out + 1] = format("...\t(skipping %d levels)", u + 1 - 22)
    add(user_frames(abs, u - 10, 10))
  end
  out[#out + 1] = "[C]: in ?"
  return concat(out, "\n\t")
end

-- The same cut in every traceback of an ErrorGroup and of those nested in
-- it (the root task's failures were taken below the command's frames). A
-- list of groups still to visit, not recursion: a chain of tasks, each
-- failing in its parent's group, nests them as deep as it is long.
local function user_tracebacks(top)
  local seen, todo = { [top] = true }, { top }
  while #todo > 0 do
    local eg = remove(todo)
    local tbs, errs = rawget(eg, "tracebacks"), rawget(eg, "errors")
    if type(tbs) == "table" then
      for i, t in pairs(tbs) do
        if type(t) == "string" then tbs[i] = user_traceback(t) end
      end
    end
    if type(errs) == "table" then
      for _, e in pairs(errs) do
        if is_error_group(e) and not seen[e] then
          seen[e] = true
          todo[#todo + 1] = e
        end
      end
    end
  end
end

-- Run the plan as corral.run's root; the exit status.
local function run(plan, argv, info)
  local tb, tb_of     -- the traceback of the error last handled, and that error
  local function handler(e)
    tb = nil          -- (a <close> handler's error replaces the one before)
    if is_cancelled(e) or is_error_group(e) then return e end
    -- as lua's own handler: a value whose __tostring gives a string is
    -- printed as that string alone, without a traceback
    local mt = type(e) ~= "string" and type(e) ~= "number" and rawmeta(e)
    local ts = type(mt) == "table" and rawget(mt, "__tostring")
    if ts then
      local ok, text = pcall(ts, e)
      if ok and type(text) == "string" then return e end
    end
    tb, tb_of = lua_traceback(2), e
    return e
  end
  local function protect(f, ...)
    local r = pack(xpcall(f, handler, ...))
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
  local function root()
    prelude(plan, protect)
    if plan.chunk and plan.stdin then
      protect(plan.chunk)
    elseif plan.chunk then
      local args, n = script_args()     -- (no traceback for this one, as lua)
      protect(plan.chunk, unpack(args, 1, n))
    end
  end
  local ok, e = pcall(corral_run, root, plan.run_opts)
  -- (a trace asked for and not written: said on stderr; the status says so)
  if ok then return trace_failed() and 1 or 0 end
  if is_cancelled(e) and e.source == "signal" then
    eprint(info.progname, ": interrupted by ", describe(e.reason), "\n")
    local stuck = stuck_tree()
    if stuck then           -- a deadlock held open for the signal: show it
      eprint(info.progname, ": every task was blocked and nothing but a ",
        "signal could wake them (a deadlock). The tasks when it came:\n", stuck)
    end
    return e.reason == "SIGTERM" and 143 or 130
  end
  local msg
  if is_error_group(e) then
    user_tracebacks(e)
    msg = e:render({ tracebacks = true })
  else
    msg = match(error_text(e), "^[^%z]*")   -- as lua: up to a NUL byte
    if tb and rawequal(tb_of, e) then msg = msg .. "\n" .. tb end
  end
  eprint(info.progname, ": ", msg, "\n")
  return 1
end

function M.main(argv, info)
  info = info or {}
  info.progname = info.progname or argv[0] or "corral"
  if argv[1] == "trace-svg" then       -- a subcommand, not a script
    return require("corral.trace_svg").main({ unpack(argv, 2) }, info.progname)
  end
  local plan, err = parse(argv, info)
  if not plan then return usage_error(info, err) end
  -- started with SIGUSR1 ignored (nohup-like): it stays ignored, no tree
  if info.usr1_ignored then plan.run_opts.debug_signal = nil end
  if plan.help then
    io.stdout:write(format(USAGE, info.progname, info.progname))
    return 0
  end
  if plan.version then
    io.stdout:write(version_string(info), "\n")
    if not plan.script and #plan.actions == 0 then return 0 end
  end
  local has_e = false
  for _, a in ipairs(plan.actions) do has_e = has_e or a.kind == "e" end
  if not plan.script and not has_e and not plan.version then  -- as lua: -l too
    if info.stdin_is_tty then return usage_error(info, "no script given") end
    argv[#argv + 1] = "-"                      -- lua reads stdin here too
    plan.script, plan.stdin = #argv, true
  end
  if plan.no_env and info.path_default then    -- -E: LUA_PATH ignored too, as lua
    package.path, package.cpath = info.path_default, info.cpath_default
  end
  -- The policies installed beside the command (make install PREFIX=~/.local):
  -- found without a LUA_PATH, after whatever the path already holds.
  local dir = info.luadir
  if dir and not find(package.path, dir .. "/?.lua", 1, true) then
    package.path = package.path .. ";" .. dir .. "/?.lua;" .. dir .. "/?/init.lua"
  end
  if plan.stdin then                           -- no script: as lua, arg[0] is
    G.arg = arg_table(argv)                    -- the program, and the chunk
    G.arg[#argv] = nil                        -- gets no arguments
  else
    G.arg = arg_table(argv, plan.script)
  end
  if plan.warnings then warn("@on") end
  local ok, cerr = compile(plan, argv)
  if not ok then
    eprint(info.progname, ": ", tostring(cerr), "\n")
    return 1
  end
  return run(plan, argv, info)
end

return M
