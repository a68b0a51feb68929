-- spec/regress/a-read-that-gave-way-at-its-end-lost-its-bytes-to-a-cancel-that-came-meanwhile_spec.lua
--
-- Broke (0.26.2): a read served from bytes already buffered gives way at its
-- end once the pass's 10 ms are up (a schedule point after the call, so a loop
-- of them lets others in). A t:cancel that came during that yield was owed
-- when the task went on: `g:spawn(s.read, s)` returned the bytes and the task
-- ended "cancelled", so t:wait() answered false, Cancelled and the bytes were
-- lost. The call is over when it gives way, as a delivered wake-up is: the
-- cancel comes after it, the task that returns ends done, and the next
-- cancellation point raises.

local corral = require "corral"
local support = require "support"

local function spin(ms)
  local t = os.clock()
  while os.clock() - t < ms / 1000 do end
end

-- fn(server_side, client_side, g) inside a run, with a loopback connection.
local function with_pair(fn)
  support.with_tcp_pair(function(s, c)
    corral.group(function(g) fn(s, c, g) end)
  end)
end

describe("a read that gave way at its end, its task cancelled meanwhile #fifo", function()
  it("ends done with the bytes it read", function()
    local first, r, status, ok, got
    with_pair(function(s, c, g)
      c:write("abc")
      corral.sleep(0.05)            -- all three bytes are in
      first = s:read(1)             -- "a"; "bc" stay buffered
      r = g:spawn(function()
        spin(20)                    -- the pass's time is up
        return s:read()             -- "bc" at once, then it gives way
      end)
      corral.checkpoint()           -- r runs; the body is queued before it
      status = r.status
      r:cancel("too late")
      ok, got = r:wait()
    end)
    assert.equal("a", first)
    assert.equal("scheduled", status)  -- r had given way (else nothing tested)
    assert.is_true(ok, tostring(got))
    assert.equal("bc", got)
    assert.equal("done", r.status)
  end)

  it("raises the cancel at its next cancellation point", function()
    local r, got, after
    with_pair(function(s, c, g)
      c:write("abc")
      corral.sleep(0.05)
      s:read(1)
      r = g:spawn(function()
        spin(20)
        got = s:read()
        after = "not raised"
        corral.checkpoint()
        after = "still running"
      end)
      corral.checkpoint()
      r:cancel("too late")
      r:wait()
    end)
    assert.equal("bc", got)
    assert.equal("not raised", after)
    assert.equal("cancelled", r.status)
  end)
end)
