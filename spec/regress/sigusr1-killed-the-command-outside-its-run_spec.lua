-- The command's SIGUSR1 prints the task tree and goes on, but only while
-- corral.run ran: before it (a slow stdin still bringing the script) and
-- after it (the state closing) SIGUSR1 had its default action and killed
-- the command (status 138).
local corral = require "corral"
local converse = require "converse"

describe("SIGUSR1 to the corral command", function()
  it("does not kill it while it reads its script from stdin", function()
    local out, code, sig
    corral.run(function()
      local p <close> = corral.exec(converse.BIN, {}, { stdin = "pipe", stdout = "pipe" })
      corral.sleep(0.3)                  -- the command waits for its script
      p:kill("SIGUSR1")
      corral.sleep(0.1)
      p.stdin:write('print("script ran")\n')
      p.stdin:shutdown()
      out = p.stdout:read()
      code, sig = p:wait()
    end)
    assert.same({ 0, nil }, { code, sig })
    assert.equal("script ran\n", out)
  end)

  -- (started with SIGUSR1 ignored, the run's tree watcher took the ignore
  -- away from what the script started during the run)
  it("stays ignored, for the script's children too, when the command started so", function()
    local p = assert(io.popen("trap '' USR1; " .. converse.BIN .. [[ -e '
      local p = io.popen("sh -c \"kill -USR1 \\$\\$; echo survived\"")
      io.write(p:read("a")); p:close()' 2>&1; echo "exit=$?"]]))
    local out = p:read("a")
    p:close()
    assert.equal("survived\nexit=0\n", out)
  end)

  it("does not kill it while it closes its state", function()
    local r = converse.run({ converse.BIN, "-e", [[
      local pid = io.open("/proc/self/stat"):read("l"):match("^%d+")
      gc_guard = setmetatable({}, { __gc = function()
        os.execute("kill -USR1 " .. pid)     -- lua_close runs this
        io.stdout:write("still alive\n")
      end })
      print("script done")
    ]] })
    assert.same({ 0, nil }, { r.code, r.signal })
    assert.equal("script done\nstill alive\n", r.stdout)
  end)
end)
