-- spec/cli_spec.lua: the `corral` command (API.md section 1): `corral script.lua args…`
-- runs the chunk as the root task on the real clock with signals on. Exit 0 on
-- success, 1 on error (an ErrorGroup rendered with task names on stderr), 130/143
-- on SIGINT/SIGTERM after every cleanup ran.
--
-- CORRAL_BIN names the executable under test. The scripts signal themselves (their
-- pid from /proc/self/stat, `kill` run through io.popen from inside a task) so no
-- spec has to wait for anything.

local BIN = os.getenv("CORRAL_BIN") or "build/corral"    -- plain `busted` from the root

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

--- Run `corral <script> args…` and return {code =, stdout =, stderr =}.
local function corral_cli(script, ...)
  assert(BIN, "set CORRAL_BIN to the path of the corral executable")
  local script_path, out_path, err_path = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(script_path, "w"))
  f:write(script)
  f:close()
  local words = { shell_quote(BIN), shell_quote(script_path) }
  for i = 1, select("#", ...) do words[#words + 1] = shell_quote((select(i, ...))) end
  local cmd = ("%s >%s 2>%s; echo \"exit=$?\""):format(
    table.concat(words, " "), shell_quote(out_path), shell_quote(err_path))
  local p = assert(io.popen(cmd))
  local status = p:read("a")
  p:close()
  local result = {
    code = tonumber(status:match("exit=(%d+)")),
    stdout = slurp(out_path),
    stderr = slurp(err_path),
  }
  os.remove(script_path)
  os.remove(out_path)
  os.remove(err_path)
  return result
end

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- The script for the signal specs: three workers and the root hold `<close>`
-- resources, a fourth cleans up in a shielded scope that blocks for 10 ms, and a
-- last task sends the signal once all the others are blocked forever.
local SIGNAL_SCRIPT = [[
local corral = require "corral"
io.stdout:setvbuf("no")

local function resource(name)
  return setmetatable({}, { __close = function() io.write("cleanup ", name, "\n") end })
end

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

local _ <close> = resource("root")
corral.group(function(g)
  for i = 1, 3 do
    g:spawn({ function()
      local _ <close> = resource("worker " .. i)
      corral.sleep(math.huge)
    end, name = "worker-" .. i })
  end
  g:spawn(function()
    local ok, e = pcall(corral.sleep, math.huge)
    corral.scope(function()
      corral.sleep(0.01)
      io.write("cleanup shielded\n")
    end, { shield = true })
    error(e, 0)
  end)
  g:spawn(function()
    io.write("sending SIG%s\n")
    io.popen("kill -%s " .. self_pid()):close()
    corral.sleep(math.huge)
  end)
end)
io.write("unreached\n")
]]

describe("the corral command", function()
  it("exits 0 when the script returns, passing its arguments as ...", function()
    local r = corral_cli([[
      local corral = require "corral"
      local args = table.pack(...)
      corral.group(function(g)
        g:spawn(function() corral.sleep(0); io.write("child ran\n") end)
      end)
      io.write(args.n, "|", table.concat(args, "|"), "\n")
    ]], "one", "two words", "")
    assert.equal(0, r.code)
    assert.equal("child ran\n3|one|two words|\n", r.stdout)
    assert.equal("", r.stderr)
  end)

  it("exits 1 and prints the error on stderr when the script raises", function()
    local r = corral_cli([[
      io.write("before\n")
      error("kaboom")
    ]])
    assert.equal(1, r.code)
    assert.equal("before\n", r.stdout)
    assert.is_truthy(r.stderr:find("kaboom", 1, true), r.stderr)
  end)

  it("exits 1 and renders an ErrorGroup on stderr with task names, errors and tracebacks", function()
    local r = corral_cli([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn({ function() error("alpha broke") end, name = "alpha-task" })
        g:spawn({ function() corral.sleep(0); error("beta broke") end, name = "beta-task" })
      end, { defer_errors = true })
    ]])
    assert.equal(1, r.code)
    for _, needle in ipairs({ "alpha-task", "alpha broke", "beta-task", "beta broke", "traceback" }) do
      assert.is_truthy(r.stderr:find(needle, 1, true), ("%q missing from stderr:\n%s"):format(needle, r.stderr))
    end
  end)

  for _, case in ipairs({ { sig = "INT", code = 130 }, { sig = "TERM", code = 143 } }) do
    it(("on SIG%s cancels the root, runs every cleanup, and exits %d"):format(case.sig, case.code), function()
      local r = corral_cli(SIGNAL_SCRIPT:format(case.sig, case.sig))
      assert.equal(case.code, r.code)
      local out = lines(r.stdout)
      assert.equal("sending SIG" .. case.sig, out[1])
      assert.same({
        "cleanup root", "cleanup shielded", "cleanup worker 1", "cleanup worker 2", "cleanup worker 3",
      }, (function()
        local rest = table.move(out, 2, #out, 1, {})
        table.sort(rest)
        return rest
      end)())
      -- The root waits for its children, so its own cleanup comes last.
      assert.equal("cleanup root", out[#out])
    end)
  end
end)
