-- Error values a hostile program can make hung corral or hid the real error:
-- an ErrorGroup inside itself rendered for ever (tostring, the trace writer,
-- the command), edited ErrorGroup fields made the renderer raise and the
-- command print that instead of every failure, an error whose __tostring
-- raised made the command print the __tostring error, and the supervisor's
-- and tcp.serve's default reporters raised on such a value (the server then
-- stopped). Also: huge errors blew up the trace, a NUL in the trace path cut
-- it short, autojump_threshold = math.huge waited for ever, a semaphore's
-- count wrapped, gather named the wrong function for limit = 1e308, and exec
-- blamed the program for a missing cwd.
local corral = require "corral"
local support = require "support"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function command(script)
  local path, err_path = os.tmpname(), os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local p = assert(io.popen(("LUA_PATH='scripts/?.lua;;' timeout 20 %s %s 2>%s; echo \"exit=$?\"")
    :format(BIN, path, err_path)))
  local status = p:read("a")
  p:close()
  local ef = assert(io.open(err_path))
  local stderr = ef:read("a")
  ef:close()
  os.remove(path)
  os.remove(err_path)
  return tonumber(status:match("exit=(%d+)")), stderr
end

local function failing_group(bad)
  return support.vrun(function()
    return select(2, pcall(corral.group, function(g)
      g:spawn({ function() error(bad(), 0) end, name = "a" })
      g:spawn({ function() error("disk full", 0) end, name = "writer" })
    end, { defer_errors = true }))
  end)
end

local function self_containing()
  local e = corral.error_group({ "inner" }, { "x" })
  e.errors[1] = e
  return e
end

local evil = setmetatable({}, { __tostring = function() error("ts boom") end })

describe("regression: hostile error values", function()
  it("an ErrorGroup that contains itself renders, once", function()
    local text = tostring(failing_group(self_containing))
    assert.matches("it contains itself", text)
    assert.matches("disk full", text)
  end)

  it("an ErrorGroup with edited fields still renders every failure", function()
    for _, edit in ipairs{
      function(e) e.tasks = nil end, function(e) e.errors = nil end,
      function(e) e.tracebacks = nil end, function(e) e.dropped = "lots" end,
      function(e) e.dropped = 1 / 0 end, function(e) e.tracebacks[1] = {} end,
    } do
      local eg = failing_group(function()
        local e = corral.error_group({ "inner" }, { "x" })
        edit(e)
        return e
      end)
      local text = eg:render({ tracebacks = true })
      assert.matches("disk full", text)
    end
  end)

  it("deep nesting is cut in the rendering, not in the values", function()
    local v = "leaf"
    for i = 1, 500 do v = corral.error_group({ v }, { "n" .. i }) end
    local eg = failing_group(function() return v end)
    assert.matches("nested too deep to show", tostring(eg))
    assert.equal(2, #eg:flatten())
  end)

  it("the command prints the group, not the renderer's error, and exits 1", function()
    local code, err = command([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn({function()
          local e = corral.error_group({"inner"}, {"x"}); e.errors[1] = e; error(e, 0)
        end, name = "a"})
        g:spawn({function() error("disk full", 0) end, name = "writer"})
      end, {defer_errors = true})]])
    assert.equal(1, code)
    assert.matches("disk full", err)
  end)

  it("the command shows where an error whose __tostring fails was raised", function()
    local code, err = command(
      'error(setmetatable({}, {__tostring = function() error("ts boom") end}), 0)')
    assert.equal(1, code)
    assert.matches("__tostring failed", err)
    assert.is_nil(err:find("ts boom", 1, true))
    assert.matches("stack traceback", err)
  end)

  it("the supervisor's default report does not raise", function()
    local supervisor = require "corral.supervisor"
    assert.has_no.errors(function()
      support.vrun(function()
        supervisor.run({ children = {
          { name = "temp", restart = "temporary", fn = function() error(evil, 0) end },
          { name = "perm", fn = function(c) c:wait_stopping() end } } },
          function(sup) corral.sleep(1); sup:stop() end)
      end)
    end)
  end)

  it("tcp.serve's default report does not stop the server", function()
    local served = 0
    corral.run(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function()
            served = served + 1
            error(evil, 0)
          end, { ready = ready })
        end)
        for _ = 1, 2 do
          local s = corral.tcp.connect("127.0.0.1", port)
          s:read(1)
          s:close()
        end
        g:cancel()
      end)
    end)
    assert.equal(2, served)
  end)

  it("a trace keeps at most 4 KB of an error", function()
    local path = os.tmpname()
    pcall(corral.run, function()
      corral.group(function(g) g:spawn(function() error(("x"):rep(1e6), 0) end) end)
    end, { trace = path })
    local f = assert(io.open(path))
    local size = #f:read("a")
    f:close()
    os.remove(path)
    assert.is_true(size < 64 * 1024, size)
  end)

  it("bad values are refused with a clear error", function()
    support.assert_arg_error(2, "run", "contains a NUL byte", function()
      corral.run(print, { trace = "/tmp/a\0b.json" })
    end)
    support.assert_arg_error(2, "run", "finite number", function()
      corral.run(print, { clock = "virtual", autojump_threshold = math.huge })
    end)
    local s = corral.semaphore(math.maxinteger)
    assert.error_matches(function() s:release() end, "math.maxinteger permits")
    assert.equal(math.maxinteger, s.value)
    local gather = require "corral.gather"
    support.vrun(function()
      assert.error_matches(function() gather({ print }, { limit = 1e308 }) end,
                           "to 'gather' %(limit must be an integer")
    end)
  end)

  it("tostring of a task or group keeps a name with a NUL whole", function()
    support.vrun(function()
      corral.group(function(g)
        local t = g:spawn({ function() end, name = "a\0b" })
        assert.truthy(tostring(t):find("a\0b", 1, true))
        assert.truthy(tostring(g):find("db\0primary", 1, true))
      end, { name = "db\0primary" })
    end)
  end)

  it("exec names a missing cwd, not the program", function()
    corral.run(function()
      local ok, e = pcall(corral.exec, "/bin/echo", {}, { cwd = "/nonexistent/dir" })
      assert.is_false(ok)
      assert.equal("/bin/echo", e.path)
      assert.matches("cwd /nonexistent/dir: no such directory", tostring(e))
      ok, e = pcall(corral.exec, "/bin/echo", {}, { cwd = "/etc/passwd" })  -- a file
      assert.is_false(ok)
      assert.equal("/bin/echo", e.path)
      assert.equal("ENOTDIR", e.code)
      assert.matches("cwd /etc/passwd: not a directory", tostring(e))
    end)
  end)
end)
