-- A TCP peer that sent data and then reset the connection (SO_LINGER 0),
-- both queued before the first read: read gave the data, then nil, as if
-- the transfer had ended cleanly. libuv reports the end without reading
-- when the peer hung up after a partial read; corral now asks the socket
-- for its pending error there, so the reset is raised (ECONNRESET).
-- The peer is a few lines of Perl, which every Debian system has.
local corral = require "corral"

local PEER = [[
  use Socket;
  socket(my $s, PF_INET, SOCK_STREAM, getprotobyname("tcp")) or die "socket: $!";
  connect($s, sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or die "connect: $!";
  syswrite($s, "data before reset");
  setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)) or die "linger: $!";
  close($s);
]]

describe("regression: a reset that arrives with the last data", function()
  it("is raised after the data, not read as a clean end", function()
    local got, err
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local p <close> = corral.exec("perl", { "-e", PEER, tostring(l.port) },
                                    { stdin = "inherit", stdout = "inherit" })
      local s <close> = l:accept()
      assert.equal(0, p:wait())                -- data and reset both queued
      got = s:read()
      local ok
      ok, err = pcall(s.read, s)
      assert.is_false(ok)
    end)
    assert.equal("data before reset", got)
    assert.is_true(corral.is_io_error(err))
    assert.equal("ECONNRESET", err.code)
    assert.equal("read", err.op)
  end)
end)
