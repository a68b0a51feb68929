-- A task blocked in read_line (or read_exactly, or lines) was woken by part of
-- a line; when its scope was cancelled before it ran, it found no whole line
-- and went back to waiting inside the cancelled scope, where nothing aborted
-- it again: it hung until more bytes came, for ever on an idle peer. A race
-- of two read_line branches did not return when the winner's line and the
-- loser's partial line arrived together. The engine now aborts the wait of a
-- task that parks inside a cancelled scope at once.
local corral = require "corral"
local support = require "support"
local race = require "corral.race"

-- A connected pair of TCP streams, the server end first.

local reads = {
  read_line = function(s) return s:read_line() end,
  read_exactly = function(s) return s:read_exactly(10) end,
  lines = function(s) for _ in s:lines() do end end,
}

describe("regression: a read woken by too little data", function()
  for name, read in pairs(reads) do
    it("raises the cancel that came before it ran again (" .. name .. ") #fifo", function()
      local outcome
      support.with_tcp_pair(function(srv, c)
        corral.group(function(g)
          local scope
          local reader = g:spawn(function()
            corral.scope(function(s) scope = s; read(srv) end)
            outcome = scope.cancel_caught and "cancelled" or "returned"
          end)
          corral.sleep(0.01)
          c:write("abc")                  -- part of a line, of the 10 bytes
          support.until_woken(reader)
          scope:cancel("now")             -- woken, not yet run
          local ok = corral.move_on_after(5, reader.wait, reader)
          if not ok then outcome = "hung"; g:cancel() end
        end)
      end)
      assert.equal("cancelled", outcome)
    end)
  end

  it("lets a race of two read_line branches return", function()
    local i, line
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local a, ca = support.tcp_pair(l)
      local _a <close> = a
      local _ca <close> = ca
      local b, cb = support.tcp_pair(l)
      local _b <close> = b
      local _cb <close> = cb
      corral.group(function(g)
        g:spawn(function()
          corral.sleep(0.01)
          cb:write("par")                 -- the loser's partial line...
          ca:write("winner\n")            -- ...and the winner's, together
        end)
        corral.fail_after(5, function()
          i, line = race({ function() return a:read_line() end,
                           function() return b:read_line() end })
        end)
      end)
    end)
    assert.equal(1, i)
    assert.equal("winner", line)
  end)
end)
