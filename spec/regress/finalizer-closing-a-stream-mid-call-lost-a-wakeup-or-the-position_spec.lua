-- Two things a stream closed in the middle of a call got wrong:
-- * corral.testing's streams: a read or write that had to wait made its
--   event after checking the stream, and a finalizer run by that allocation
--   could close the stream in between: the close found no event to set,
--   and the task waited for ever. The wait now looks again.
-- * TCP streams: read_line's primitive, finding the stream closed since
--   the line reader's own check, raised at corral's own line (corral.io:N)
--   instead of the caller's.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

describe("regression: a stream closed in the middle of a call", function()
  it("wakes a testing stream's blocked reader and writer closed as it starts to wait", function()
    local errs = {}
    for round = 1, 2 do
      testing.run(function()
        local a, b = testing.stream_pair({ buffer = 4 })
        local _ <close> = a
        local _ <close> = b
        local target = round == 1 and b or a
        if round == 2 then a:write("0123") end       -- the peer's buffer is full
        corral.group(function(g)
          g:spawn(function()               -- (the bug: nothing else would)
            corral.sleep(1)
            if target then target:close(); target = nil end
          end)
          -- closed when the wait makes its event (as a finalizer that this
          -- allocation runs would close it)
          debug.sethook(function()
            local info = debug.getinfo(2, "f")
            if target and info and info.func == corral.event then
              debug.sethook()
              target:close()
              target = nil
            end
          end, "c")
          local ok, e
          if round == 1 then ok, e = pcall(b.read, b)
          else ok, e = pcall(a.write, a, "x") end
          debug.sethook()
          errs[round] = ok and "no error" or tostring(e):match("ECLOSED") or tostring(e)
          errs[round + 2] = corral.now()
        end)
      end)
    end
    assert.same({ "ECLOSED", "ECLOSED", 0, 0 }, errs)
  end)

  it("names the caller's line when read_line's primitive finds the stream closed", function()
    local err, line
    support.vrun(function()
      corral.group(function(g)
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        g:spawn(function() local s <close> = l:accept(); s:write("x\n"); corral.sleep(1) end)
        local c <close> = corral.tcp.connect("127.0.0.1", l.port)
        -- close it when corral's line reader calls its C primitive
        debug.sethook(function()
          local callee, caller = debug.getinfo(2, "Sn"), debug.getinfo(3, "S")
          if callee and callee.what == "C" and callee.name == "rawread" and caller
             and caller.source == "=corral.io" then
            debug.sethook()
            c:close()
          end
        end, "c")
        line = debug.getinfo(1, "l").currentline + 1
        local ok, e = pcall(function() local r = c:read_line(); return r end)
        debug.sethook()
        err = e
        g:cancel()
      end)
    end)
    assert.matches("attempt to use a closed stream", err, 1, true)
    assert.matches(":" .. line .. ": ", err, 1, true)
  end)
end)
