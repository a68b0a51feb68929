-- SIGUSR1 to the command while a task computed without ever giving up the
-- CPU printed nothing until that task blocked: the tree then showed where it
-- had gone since, or, when the busy task was the whole script, "0 tasks"
-- after the end. The command now prints the tree while the task computes,
-- showing it running at the line it is on, and the task goes on undisturbed.
local corral = require "corral"
local converse = require "converse"
local support = require "support"

-- Run the command on script; at "ready" on its stdout send SIGUSR1; once
-- the tree is on stderr (a "running at" line), touch flag (the script's
-- busy loop ends when it sees it). Returns stdout, stderr, exit code.
-- lua: run it with lua5.4 instead (the script calls corral.run itself).
local function busy_with_usr1(script, flag, lua)
  local path = converse.tmpfile(script)
  local out, err, code = {}, {}, nil
  corral.run(function()
    corral.fail_after(30, function()
      local p <close> = lua and corral.exec("lua5.4", { path })
                        or corral.exec(converse.BIN, { path })
      corral.group(function(g)
        g:spawn(function()
          for chunk in function() return p.stderr:read() end do
            err[#err + 1] = chunk
            if table.concat(err):find("running at", 1, true) then
              support.write_file(flag, "")
            end
          end
        end)
        local seen = ""
        for chunk in function() return p.stdout:read() end do
          out[#out + 1] = chunk
          if not seen:find("ready\n") then
            seen = seen .. chunk
            if seen:find("ready\n") then p:kill("SIGUSR1") end
          end
        end
      end)
      code = p:wait()
    end)
  end)
  os.remove(path)
  os.remove(flag)
  return table.concat(out), table.concat(err), code
end

-- A busy loop on line 4 of the script, until flag exists.
local function script(flag, around)
  return (around or "%s"):format(([[
local done, x = false, 0
print("ready"); io.stdout:flush()
while not done do
  for i = 1, 1000 do x = x + i end if io.open(%q) then done = true end
end
print("sum positive:", x > 0)
]]):format(flag))
end

describe("regression: SIGUSR1 during a busy task printed its tree only once the task stopped", function()
  it("a busy script (the root task): its tree, running at the busy line, while it computes", function()
    local flag = os.tmpname(); os.remove(flag)
    local out, err, code = busy_with_usr1(script(flag), flag)
    assert.equal(0, code)
    assert.equal("ready\nsum positive:\ttrue\n", out)
    local _, trees = err:gsub("corral tree at", "")
    assert.equal(1, trees)                      -- libuv's own delivery: skipped
    assert.matches("corral tree at [%d.]+s: 1 task\ntask [^\n]* running at [^\n]*:4\n", err)
  end)

  it("a busy child: the tree shows it running and its sibling waiting", function()
    local flag = os.tmpname(); os.remove(flag)
    local out, err, code = busy_with_usr1(script(flag, [[
local corral = require "corral"
corral.group(function(g)
  g:spawn(function() corral.sleep(math.huge) end)
  g:spawn(function()
%s
    g:cancel()
  end)
end)
print("after")
]]), flag)
    assert.equal(0, code)
    assert.equal("ready\nsum positive:\ttrue\nafter\n", out)
    assert.matches("waiting on sleep", err, 1, true)
    assert.matches("running at [^\n]*:8\n", err)
    local _, trees = err:gsub("corral tree at", "")
    assert.equal(1, trees)
  end)

  it("under lua5.4, a run with debug_signal alone (no root policy) does the same", function()
    local flag = os.tmpname(); os.remove(flag)
    local out, err, code = busy_with_usr1(script(flag, [[
local corral = require "corral"
corral.run(function()
%s
end, { debug_signal = "SIGUSR1" })
]]), flag, true)
    assert.equal(0, code)
    assert.equal("ready\nsum positive:\ttrue\n", out)
    assert.matches("corral tree at [%d.]+s: 1 task\ntask [^\n]* running at [^\n]*:6\n", err)
    local _, trees = err:gsub("corral tree at", "")
    assert.equal(1, trees)
  end)
  it("a run with debug_signal alone leaves the busy-task Ctrl-C to the next run", function()
    local r = converse.lua([[
      local corral = require "corral"
      corral.run(function() corral.sleep(0) end, { debug_signal = "SIGUSR1" })
      corral.run(function()
        local _ <close> = setmetatable({}, { __close = function(_, e)
          print("cleanup: " .. tostring(e))
        end })
        print("ready")
        io.stdout:flush()
        local x = 0
        while true do x = x + 1 end
      end, { signals = true })
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.same({ "ready", "cleanup: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
  end)
end)
