-- lio.lua: the Lua half of corral's I/O, compiled into corral.so (see
-- cmake/Embed.cmake). It runs once per require "corral", with:
--   corral  the module table
--   core    tcp_connect, tcp_listen, is_ip (C), stream_methods (the
--           methods table of streams, with the C primitive _read) and
--           IoError (the metatable of I/O error values)

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral;
-- `type` is Lua's own, whatever the global says. The functions themselves,
-- not their libraries (`string.format = nil` empties a field of the one
-- table), and no string methods (s:sub goes through the string metatable,
-- which a program may empty too), as in lerror.lua.
local error, getmetatable, io, ipairs, pairs, pcall, select, setmetatable, tostring =
  error, getmetatable, io, ipairs, pairs, pcall, select, setmetatable, tostring
local corral, core = ...
local type = core.type

local concat, format = table.concat, string.format
local byte, find, gsub, sub = string.byte, string.find, string.gsub, string.sub
local huge, min, tointeger = math.huge, math.min, math.tointeger

-- I/O errors ------------------------------------------------------------

local IoError, Address = core.IoError, core.Address

function IoError.__tostring(e)
  local where = e.address or e.path
  return format("%s%s: %s (%s)", e.call, where and " " .. where or "",
                e.message, e.code)
end

-- An address as text: "127.0.0.1:80", "[::1]:80", or "?" for none.
function Address.__tostring(p)
  if type(p.address) ~= "string" then return "?" end
  return find(p.address, ":", 1, true) and format("[%s]:%s", p.address, p.port)
    or format("%s:%s", p.address, p.port)
end

-- "..." .. err and "from " .. peer work as with strings; anything else
-- concatenated with them raises as Lua does.
local function concat_operand(v)
  local mt = getmetatable(v)
  if mt == IoError or mt == Address then return tostring(v) end
  if type(v) == "string" or type(v) == "number" then return v end
  error(format("attempt to concatenate a %s value", corral._typename(v)), 3)
end

local function concat_text(a, b) return concat_operand(a) .. concat_operand(b) end
IoError.__concat, Address.__concat = concat_text, concat_text

--- corral.is_io_error(v) -> true when v is an I/O error value.
function corral.is_io_error(v)
  return getmetatable(v) == IoError
end

local function io_error(call, op, code, message, fields)
  local e = { call = call, op = op, code = code, message = message }
  for k, v in pairs(fields or {}) do e[k] = v end
  return setmetatable(e, IoError)
end

-- f(...)'s one result; an IoError it raises gets e[k] = v first (the call
-- it belongs to, the bytes a reader had taken: v may be a function making
-- the value, called only then), anything else goes on as it came.
local function marking(k, v, f, ...)
  local ok, r = pcall(f, ...)
  if ok then return r end
  if getmetatable(r) == IoError then
    if type(v) == "function" then v = v() end
    r[k] = v
  end
  error(r, 0)
end

-- Argument checks -------------------------------------------------------

-- argerr(n, f, msg [, level]): "bad argument #n to 'f' (msg)"; level as
-- error() counts, 2 (the default) = the caller of the function calling it.
local argerr = corral.arg_error
-- method_error(n, msg, level [, self]): the same for argument n (self = 1)
-- of the method `level` frames up, named and counted as the user called it
-- (s:read_line(0) says #1, pcall(s.read_line, s, 0) #2 to
-- 'corral.Stream.read_line'), as the C methods' errors are.
local method_error = corral._method_error
-- no_more_args(n, why, ...): argument n (self = 1) of the calling method and
-- what follows must not be there (a timeout given to a read would be
-- dropped, and the read wait for ever): why = true says how to time it out.
local no_more_args = corral._no_more_args

-- An integer in lo..hi (an integral float is accepted, as Lua's own
-- functions do), or an argument error saying what it must be.
local function checkint(v, n, f, what, lo, hi, level, option)
  -- an option is taken as it is: a number, not a numeral (api.md)
  local i = (not option or type(v) == "number") and tointeger(v)
  if not i or i < lo or (hi and i > hi) then
    local range = hi and format("in %d..%d", lo, hi) or format(">= %d", lo)
    argerr(n, f, format("%s must be an integer %s", what, range),
           (level or 2) + 1)
  end
  return i
end

-- A host as argument 1 of f, `level` up as error() counts from the caller
-- of this (also happy_eyeballs.connect's, as corral._check_host).
local function hostarg(host, f, level)
  if type(host) ~= "string" then
    argerr(1, f, "string expected, got " .. type(host), level + 1)
  elseif find(host, "\0", 1, true) then
    argerr(1, f, "host contains a NUL byte", level + 1)
  elseif host == "" then     -- (the resolver's EINVAL named no host at all)
    argerr(1, f, 'host is empty: give an address ("127.0.0.1", "::") or a name',
           level + 1)
  end
end
corral._check_host = hostarg

-- The tcp functions need a run; say so in their own name.
local function checkhost(host, f)
  if not core.running() then
    error(format("corral.tcp.%s: called outside corral.run", f), 3)
  end
  hostarg(host, f, 3)
end

-- The options table at argument n of f: nil or a table whose every key
-- is one of `known` (a typo must not silently drop an option).
local function checkoptions(opts, n, f, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    argerr(n, f, "table expected, got " .. type(opts), 3)
  end
  local unknown = corral.check_options(opts, known)
  if unknown then argerr(n, f, unknown, 3) end
  return opts
end

-- Stream helpers ----------------------------------------------------------

-- A method's self must be a stream: Lua's own wording for a bad self.
local typename = corral._typename           -- (__name, as Lua's errors say)

-- (The readers': one that finds its stream closed raises its task's
-- Cancelled first, if it is cancelled: that cancel may be what closed it,
-- as for read and write, lio.c's closed_stream.)
local function checkstream(s, f, level)
  if not core.is_stream(s) then
    method_error(1, "stream expected, got " .. typename(s), (level or 2), true)
  elseif s.closed then
    corral._check_cancel()
    error(format("stream:%s: attempt to use a closed stream", f),
          (level or 2) + 1)
  end
end

local Stream = core.stream_methods
local rawread = Stream._read              -- (s, max, delim byte, call)
local where = Stream._where               -- (s) -> its peer, or nil
local skip_line = Stream._skip_line       -- (s): see line_too_long
local give_way = Stream._give_way         -- (s, call): see readers
Stream._read, Stream._where, Stream._skip_line = nil, nil, nil
Stream._give_way = nil
local LINE, EXACTLY, LINES = 1, 2, 3      -- the calls, for error messages
local NL, CR = 10, 13
local MAX_LINE = 65536

local function line_too_long(call, max, parts, address)
  error(io_error(call, "read", "EMSGSIZE",
    format("line longer than %d byte%s", max, max == 1 and "" or "s"),
    { partial = concat(parts), address = address }), 0)
end

-- Argument n (self = 1) of the method `level` frames up (1 = the caller):
-- an integer >= lo.
local function checkcount(v, n, what, lo, level)
  local i = tointeger(v)
  if not i or i < lo then
    method_error(n, format("%s must be an integer >= %d", what, lo), level + 1)
  end
  return i
end

local function checkmax(max)
  if max == nil then return MAX_LINE end
  return min(checkcount(max, 2, "max", 1, 2), 1 << 50)
end

-- The line and exact readers of a kind of stream, over its primitive
-- rawread(s, max, delim byte or -1, call) (1..max bytes, ending at delim if
-- it comes first, or nil at end of file) and its check(s, f) of self: TCP
-- and pipe streams', and corral.testing's in-memory streams, which must
-- behave alike. skip_line(s) says a line too long for read_line's max was
-- cut off before its "\n": the primitive then drops the rest of that line
-- at the next read_line or lines (a read or read_exactly in between takes
-- it as bytes instead). where(s), if given, is the address of a stream's
-- errors. give_way(s, call), if given, ends a call that took data: a
-- schedule point once the pass has had its time (TCP and pipe streams; an
-- in-memory stream's loop must replay the same under a seed), at the end
-- of the call only, never between its reads.
local function readers(rawread, check, skip_line, where, give_way)
  local function address(s) return where and where(s) or nil end
  local function done(s, which, v)
    if give_way then give_way(s, which) end
    return v
  end

  -- rawread for a call that holds `parts` already (a line or a count longer
  -- than the read-ahead buffer, or bytes the primitive gave up before the
  -- stream failed): an I/O error that ends the call carries them in
  -- e.partial, as the end of the stream does, so no byte is lost. (The
  -- first read of a call is the hot path: rawread itself, called straight
  -- from the reader, so that its errors name the user's line.)
  local function more(s, n, delim, which, parts)
    return marking("partial", function() return concat(parts) end,
                   rawread, s, n, delim, which)
  end

  -- The rest of a line longer than the buffer, part of which was consumed:
  -- a call cut off here (cancelled, or failed) leaves the rest of that line
  -- to be dropped by the next read_line, as a line too long for max does.
  local function more_of_line(s, n, which, parts)
    local ok, r = pcall(more, s, n, NL, which, parts)
    if ok then return r end
    skip_line(s)
    error(r, 0)
  end

  -- One line without its "\n" or "\r\n"; the last line may lack it; nil
  -- at EOF. A line the primitive has whole is taken whole, so a cancelled
  -- call loses nothing.
  local function read_line(s, max, which)
    local call = which == LINES and "stream:lines" or "stream:read_line"
    local parts, n = {}, 0
    while true do
      local chunk
      if n == 0 then chunk = rawread(s, max + 2, NL, which)
      else chunk = more_of_line(s, max + 2 - n, which, parts) end
      if chunk == nil then
        if n == 0 then return nil end
        if n > max then line_too_long(call, max, parts, address(s)) end
        return done(s, which, concat(parts))
      end
      parts[#parts + 1] = chunk
      n = n + #chunk
      if byte(chunk, -1) == NL then
        local line = parts[2] and concat(parts) or chunk
        line = sub(line, 1, byte(line, -2) == CR and -3 or -2)
        if #line > max then line_too_long(call, max, parts, address(s)) end
        return done(s, which, line)
      end
      if n >= max + 2 then
        skip_line(s)
        line_too_long(call, max, parts, address(s))
      end
    end
  end

  local R = {}

  -- (where it may not block, said at the caller's line before a primitive
  -- nested here says it at its own)
  local blocking = corral._check_blocking

  --- s:read_line([max]) -> the next line without its newline, or nil at EOF.
  function R.read_line(s, max, ...)
    check(s, "read_line")
    no_more_args(3, true, ...)
    max = checkmax(max)
    blocking("stream:read_line", 2)
    return read_line(s, max, LINE)
  end

  --- for line in s:lines([max]) do ... end
  function R.lines(s, max, ...)
    check(s, "lines")
    no_more_args(3, true, ...)
    max = checkmax(max)
    return function()
      check(s, "lines")
      blocking("stream:lines", 2)
      return read_line(s, max, LINES)
    end
  end

  --- s:read_exactly(n) -> exactly n bytes; raises an IoError (code "EOF",
  --- e.partial = what was read) if the stream ends first.
  function R.read_exactly(s, n, ...)
    check(s, "read_exactly")
    no_more_args(3, true, ...)
    n = checkcount(n, 2, "n", 0, 1)
    blocking("stream:read_exactly", 2)
    if n == 0 then core.cancel_point("stream:read_exactly", 2) end
    local parts, got = {}, 0
    while got < n do
      local chunk
      if got == 0 then chunk = rawread(s, n, -1, EXACTLY)
      else chunk = more(s, n - got, -1, EXACTLY, parts) end
      if chunk == nil then
        error(io_error("stream:read_exactly", "read", "EOF",
          format("end of file after %d of %d bytes", got, n),
          { partial = concat(parts), address = address(s) }), 0)
      end
      parts[#parts + 1] = chunk
      got = got + #chunk
    end
    if n == 0 then return "" end
    return done(s, EXACTLY, parts[2] and concat(parts) or parts[1])
  end

  return R
end

do
  local R = readers(rawread, checkstream, skip_line, where, give_way)
  Stream.read_line, Stream.lines, Stream.read_exactly =
    R.read_line, R.lines, R.read_exactly
end
corral._stream_readers = readers      -- internal: corral.testing's streams
corral._io_error = io_error            -- internal: the same errors there

-- TCP --------------------------------------------------------------------

-- The addresses of host for the call `f` ("connect"): a failure to resolve
-- it is that call's (e.call = f, e.op = "resolve"), as exec's is "exec".
local function addresses(host, f)
  if core.is_ip(host) then return { { address = host } } end
  local list = marking("call", f, corral.resolve, host)
  if #list == 0 then
    error(io_error(f, "resolve", "EAI_NONAME", "no address",
                   { address = host }), 0)
  end
  return list
end

local tcp = {}

--- tcp.connect(host, port [, {timeout = s}]) -> stream; tries each address
--- of host in turn.
function tcp.connect(host, port, opts, ...)
  checkhost(host, "connect")
  if select("#", ...) > 0 then argerr(4, "connect", "no argument expected") end
  corral._check_blocking("corral.tcp.connect", 2)   -- at the caller's line
  checkint(port, 2, "connect", "port", 0, 65535)
  opts = checkoptions(opts, 3, "connect", { timeout = true })
  local timeout = opts.timeout
  if timeout ~= nil and type(timeout) ~= "number" then
    argerr(3, "connect", "timeout must be a number of seconds, got " .. typename(timeout))
  elseif timeout ~= nil and not (timeout >= 0) then
    argerr(3, "connect", "timeout must be a number of seconds >= 0")
  end
  local function go()
    local last
    for _, a in ipairs(addresses(host, "connect")) do
      local ok, s = pcall(core.tcp_connect, a.address, port)
      if ok then return s end
      if not corral.is_io_error(s) then error(s, 0) end
      last = s
    end
    error(last, 0)
  end
  if timeout then return corral.fail_after(timeout, go) end
  return go()
end

-- A listener on host:port for the call f ("listen", "serve"): its
-- failures, resolving host included, are f's (e.call).
local function listen_as(f, host, port, backlog)
  return marking("call", f, core.tcp_listen, addresses(host, f)[1].address, port, backlog)
end

--- tcp.listen(host, port [, {backlog = n}]) -> listener (port 0 picks a
--- free port: see listener.port).
function tcp.listen(host, port, opts, ...)
  checkhost(host, "listen")
  if select("#", ...) > 0 then argerr(4, "listen", "no argument expected") end
  checkint(port, 2, "listen", "port", 0, 65535)
  opts = checkoptions(opts, 3, "listen", { backlog = true })
  local backlog = 511
  if opts.backlog ~= nil then
    backlog = checkint(opts.backlog, 3, "listen", "backlog", 1, 65535, nil, true)
  end
  return listen_as("listen", host, port, backlog)
end

-- Accept errors that mean "no resources right now": back off and retry.
local TRANSIENT = { EMFILE = true, ENFILE = true, ENOBUFS = true,
                    ENOMEM = true, ECONNABORTED = true }
local BACKOFF = 0.1

-- The peer on_error gets: {address =, port =} as s.peer gives it (both nil
-- when the socket no longer knew it).
local function peer_of(s)
  return s.peer or setmetatable({}, Address)
end

-- One line for the user: through io.stderr as the program has it now (it
-- may point it elsewhere); where that cannot write (io removed by a sandbox,
-- a stderr that is not a file), straight to the process's stderr, so the
-- line is not lost. Protected: a line that cannot be made (memory) is no
-- failure of the caller.
local function say(make, ...)
  local ok, line = pcall(make, ...)
  if not ok then return end
  local wrote, file = pcall(function() return io.stderr:write(line) end)
  if not (wrote and file) then pcall(corral._stderr, line) end
end
corral._say = say

local function default_on_error(err, peer)
  say(function()
    return format("corral.tcp.serve: handler for %s failed: %s\n",
      tostring(peer), (gsub(corral._describe(err), "\n", " ")))
  end)
end

-- One connection: handler(stream), then the stream is closed (and its slot
-- given back, with a limit). A failure is reported, not raised, so it never
-- reaches the server's group.
local function serve_one(handler, on_error, s, peer, slots)
  local _ <close> = slots and setmetatable({}, { __close = function()
    slots:release()
  end }) or nil
  local stream <close> = s
  local ok, err = pcall(handler, stream)
  if ok then return end
  -- (a Cancelled whose scope has exited is an ordinary failure)
  if corral._cancel_live(err) then error(err, 0) end
  on_error(err, peer)
end

-- The accept loop, until a stop cancels it. With a limit it takes a slot
-- before it accepts, so a full server leaves new connections in the
-- listener's backlog.
local function accept_loop(l, conns, handler, on_error, slots)
  while true do
    if slots then slots:acquire() end
    local ok, s = pcall(l.accept, l)
    if ok then
      local peer = peer_of(s)
      local spawned, err = pcall(conns.spawn, conns, { serve_one, name = "serve " .. tostring(peer) },
                                 handler, on_error, s, peer, slots)
      if not spawned then              -- the handlers' group stopped meanwhile
        s:close()
        if slots then slots:release() end
        if conns.stopping then return end
        error(err, 0)
      end
    else
      if slots then slots:release() end
      if corral.is_io_error(s) and TRANSIENT[s.code] then
        corral.sleep(BACKOFF)          -- out of fds: let handlers finish
      else
        error(s, 0)
      end
    end
  end
end

--- tcp.serve(host, port, handler [, opts]): accept connections and run
--- handler(stream) for each in a group of its own, until the group of the
--- calling task is stopped (then: stop accepting, close the listener, stop
--- the handlers' group too, so that they see `stopping`, and let them
--- finish) or cancelled. opts: ready(port), on_error(err, peer), backlog,
--- limit (connections handled at once).
function tcp.serve(host, port, handler, opts, ...)
  checkhost(host, "serve")
  if select("#", ...) > 0 then argerr(5, "serve", "no argument expected") end
  checkint(port, 2, "serve", "port", 0, 65535)
  if type(handler) ~= "function" then       -- (a callable table: wrap it)
    argerr(3, "serve", corral._function_expected(handler))
  end
  opts = checkoptions(opts, 4, "serve",
                      { ready = true, on_error = true, backlog = true, limit = true })
  if opts.backlog ~= nil then
    checkint(opts.backlog, 4, "serve", "backlog", 1, 65535, nil, true)
  end
  if opts.limit ~= nil and opts.limit ~= huge and      -- (math.huge: no limit)
     not (type(opts.limit) == "number" and tointeger(opts.limit)
          and opts.limit >= 1) then
    argerr(4, "serve", "limit must be an integer >= 1 or math.huge" ..
      (type(opts.limit) == "number" and "" or ", got " .. typename(opts.limit)))
  end
  for _, k in ipairs({ "ready", "on_error" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then
      argerr(4, "serve", corral._function_expected(opts[k], k))
    end
  end
  local on_error = opts.on_error or default_on_error
  local slots = opts.limit and opts.limit ~= huge and corral.semaphore(opts.limit)
  local l <close> = listen_as("serve", host, port, opts.backlog or 511)
  local me = corral.current_task()
  local outer = me and me.group
  local failed                 -- an error of ready or of the accept loop
  corral.group(function(conns)
    corral.scope(function(accepting)
      -- A stop of the caller's group stops the handlers' group (they see
      -- it); a stop of that group, by it or by a handler, ends accepting.
      -- The two watchers have a group of their own, so that the handlers'
      -- group holds nothing but handlers (a handler may count its siblings);
      -- an error of ready or of the accept loop is raised outside it, not
      -- nested one group deeper.
      local ok, err
      corral.group(function(control)
        local watchers = {
          outer and control:spawn({ function()
            outer:wait_stopping()
            conns:stop(huge)        -- the outer grace ends it
          end, name = "serve: stop watcher" }),
          control:spawn({ function()
            conns:wait_stopping()
            accepting:cancel("serve: stopping")
            l:close()
          end, name = "serve: accept stopper" }),
        }
        ok, err = pcall(function()
          if opts.ready then opts.ready(l.port) end
          accept_loop(l, conns, handler, on_error, slots)
        end)
        for _, w in pairs(watchers) do w:cancel() end
      end, { name = "serve: control" })
      -- A live Cancelled goes on as ever; any other error ends the handlers
      -- and is raised bare once their group has exited, as a listen
      -- error is, not as that group's ErrorGroup.
      if not ok and corral._cancel_live(err) then error(err, 0) end
      if not ok then
        failed = { corral._dead_cancel(err) }    -- (a stale one: ordinary)
        conns:cancel("serve: " .. (opts.ready and "ready or " or "") .. "the accept loop failed")
      end
    end)
  end, { name = "serve " .. host .. ":" .. l.port })
  if failed then error(failed[1], 0) end
end

corral.tcp = tcp
