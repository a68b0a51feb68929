-- A process's pipe closed by its user (p.stdin:close(), or the garbage collector
-- finalizing the pipe's stream first) was closed again when the process was
-- closed: heap-use-after-free in cr_io_close via proc_close (ASan: make sanitize).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("a pipe closed before its process", function()
  for _, name in ipairs({ "stdin", "stdout", "stderr" }) do
    it("p." .. name .. ":close() then p:close() closes nothing twice", function()
      local code
      vrun(function()
        local p = corral.exec("/bin/sh", { "-c", "exit 3" })
        p[name]:close()
        corral.checkpoint()            -- let the pipe's close callback free it
        code = p:wait()
        p:close()
        p:close()
      end)
      assert.equal(3, code)
    end)

    it("p." .. name .. ":close() then a <close> variable ends a running process", function()
      local pid
      vrun(function()
        local p <close> = corral.exec("/bin/sleep", { "10" })
        pid = p.pid
        p[name]:close()
        corral.checkpoint()
      end)
      assert.is_nil(support.proc_state(pid))
    end)
  end

  it("all three pipes closed, then the process closed while it runs", function()
    vrun(function()
      local p = corral.exec("/bin/sleep", { "10" })
      p.stdin:close(); p.stdout:close(); p.stderr:close()
      corral.checkpoint()
      p:close()
      assert.is_true(p.stdin.closed and p.stdout.closed and p.closed)
    end)
  end)

  it("a pipe closed in the same turn as its process (before its close callback ran)", function()
    vrun(function()
      local p = corral.exec("/bin/true", {})
      p.stdout:close()
      p:close()
    end)
  end)

  -- (every one of them was dropped without a close: the kit counts each
  -- that the collector closed, which says that it closed them all)
  it("the garbage collector finalizing the pipes and the process in any order", function()
    local err = support.raises(vrun, function()
      for _ = 1, 20 do
        local p = corral.exec("/bin/true", {})
        p:wait()
        local out = p.stdout
        out:close()
        p = nil  -- luacheck: ignore
        collectgarbage(); collectgarbage()
        corral.checkpoint()
        assert.is_true(out.closed)
      end
      for _ = 1, 20 do
        corral.exec("/bin/true", {}):wait()  -- process and pipes unreachable
      end
      collectgarbage(); collectgarbage()
      corral.checkpoint()
    end)
    -- nothing left open: the collector closed all 40 processes and 100 pipes
    assert.matches(": testing.run: leaked 40 processes, 100 TCP or pipe streams (dropped " ..
      "without a close: the garbage collector closed them)", err, 1, true)
    assert.not_matches("left open", err, 1, true)
  end)

  it("a pipe used after its process was closed raises 'attempt to use a closed stream'", function()
    vrun(function()
      local p = corral.exec("/bin/cat", {})
      local stdin = p.stdin
      p:close()
      corral.checkpoint()
      local err = support.raises(stdin.write, stdin, "x")
      support.assert_mentions(err, "stream:write: attempt to use a closed stream")
    end)
  end)
end)
