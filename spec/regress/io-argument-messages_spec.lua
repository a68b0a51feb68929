-- Arguments the I/O calls misread or misreported: a host name with an embedded
-- NUL connected to or resolved the truncated name; backlog = 1e9 was refused
-- with "must be >= 1"; p:wait() woken by p:close() said "attempt to use a
-- closed process" instead of saying what happened.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"
local vrun = support.vrun

describe("host names with an embedded NUL", function()
  it("are rejected by connect, listen, serve and resolve, never truncated", function()
    vrun(function()
      for _, host in ipairs({ "127.0.0.1\0.evil", "localhost\0evil", "\0" }) do
        support.assert_arg_error(1, "connect", "NUL", function() corral.tcp.connect(host, 80) end)
        support.assert_arg_error(1, "listen", "NUL", function() corral.tcp.listen(host, 0) end)
        support.assert_arg_error(1, "serve", "NUL", function() corral.tcp.serve(host, 0, print) end)
        support.assert_arg_error(1, "resolve", "NUL", function() corral.resolve(host) end)
      end
    end)
  end)
end)

describe("listen's backlog", function()
  it("out of range (1e9, 0, -1, 1.5) says the range it must be in", function()
    vrun(function()
      for _, b in ipairs({ 1e9, 1000000000, 0, -1, 1.5, 65536 }) do
        support.assert_arg_error(3, "listen", "backlog must be an integer in 1..65535", function()
          corral.tcp.listen("127.0.0.1", 0, { backlog = b })
        end)
      end
      local l <close> = corral.tcp.listen("127.0.0.1", 0, { backlog = 65535.0 })
      assert.is_number(l.port)
    end)
  end)
end)

describe("process:wait woken by process:close", function()
  it("raises an I/O error saying the process was closed while waited on", function()
    local err, err2
    vrun(function()
      local p = corral.exec("/bin/sleep", { "10" })
      corral.group(function(g)
        g:spawn(function() err = support.raises(p.wait, p) end)
        g:spawn(function() err2 = support.raises(p.wait, p) end)
        testing.wait_all_tasks_blocked()    -- both are waiting, under any schedule
        p:close()
      end)
    end)
    for _, e in ipairs({ err, err2 }) do
      assert.is_true(corral.is_io_error(e))
      assert.equal("ECLOSED", e.code)
      assert.equal("wait", e.op)
      assert.equal("process:wait: the process was closed while waited on (ECLOSED)", tostring(e))
    end
  end)

  it("a wait after close says the process is closed, naming the method", function()
    vrun(function()
      local p = corral.exec("/bin/true", {})
      p:close()
      support.assert_mentions(support.raises(p.wait, p), "process:wait: attempt to use a closed process")
      support.assert_mentions(support.raises(p.kill, p), "process:kill: attempt to use a closed process")
    end)
  end)
end)
