-- testing.stream_pair's streams are documented to read lines as TCP streams
-- do, but read_line and lines ignored max (no EMSGSIZE), kept the "\r" of
-- "\r\n", and read refused integral floats. They now share corral's own
-- line and exact readers; each case is run on both kinds of stream (the
-- peer address a TCP stream's error carries aside).
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

-- f(stream) on a stream whose peer wrote `data` and shut down, for an
-- in-memory pair and for loopback TCP: {ok, result or error text} each.
local function both(data, f)
  local out = {}
  corral.run(function()
    local a, b = testing.stream_pair()
    a:write(data); a:shutdown()
    local ok, r = pcall(f, b)
    out.pair = { ok, tostring(r) }
    a:close(); b:close()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    corral.group(function(g)
      g:spawn(function()
        local s <close> = l:accept()
        s:write(data); s:shutdown()
        pcall(s.read, s)                 -- the client may close with data unread (a reset)
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local ok2, r2 = pcall(f, c)
      -- a TCP stream's errors name its peer; an in-memory pair has none
      out.tcp = { ok2, (tostring(r2):gsub(" 127%.0%.0%.1:%d+:", ":")) }
    end)
  end)
  return out
end

describe("regression: stream_pair reads lines as TCP streams do", function()
  for _, case in ipairs({
    { "a\r\n", function(s) return s:read_line() end },
    { "hello\n", function(s) return s:read_line(3) end },
    -- (not a tail call: one loses the call's name, which Lua then looks up
    -- in package.loaded, where only the TCP stream's methods are)
    { "hello\n", function(s) local r = s:read_line(-1); return r end },
    { "hello\n", function(s) for l in s:lines(2) do return l end end },
    { "hello", function(s) return s:read(2^53) end },
    { "hello", function(s) return s:read(1.0) end },
    { "abc", function(s) return s:read_exactly(5) end },
    { "one\ntwo", function(s) s:read_line(); return s:read_line() end },
  }) do
    it(("%q"):format(case[1]), function()
      local out = both(case[1], case[2])
      assert.same(out.tcp, out.pair)
    end)
  end
end)
