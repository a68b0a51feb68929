-- A TCP stream's read, write and shutdown errors carried no e.address, though
-- the docs promise it "when there is one", and a TCP stream has a peer; after
-- a reset the socket no longer knows it (getpeername fails), so the stream
-- now keeps its peer's "ip:port" from the connect or the accept.
local corral = require "corral"

-- A peer that connects, sends, waits until it reads "go", then resets
-- (SO_LINGER 0), in Perl.
local PEER = [[
  use Socket;
  socket(my $s, PF_INET, SOCK_STREAM, getprotobyname("tcp")) or die "socket: $!";
  connect($s, sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or die "connect: $!";
  syswrite($s, "x");
  sysread($s, my $buf, 2);
  setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)) or die "linger: $!";
  close($s);
]]

describe("regression: a TCP stream's errors name its peer", function()
  it("on an accepted stream reset by its peer", function()
    local err, peer
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local p <close> = corral.exec("perl", { "-e", PEER, tostring(l.port) },
                                    { stdin = "inherit", stdout = "inherit" })
      local s <close> = l:accept()
      peer = s.peer
      assert.equal("x", s:read())
      s:write("go")
      assert.equal(0, p:wait())              -- the reset is queued
      local ok
      ok, err = pcall(s.read, s)
      assert.is_false(ok)
    end)
    assert.equal("ECONNRESET", err.code)
    assert.equal(("127.0.0.1:%d"):format(peer.port), err.address)
    assert.matches("^stream:read 127%.0%.0%.1:%d+: ", tostring(err))
    -- (a peer that resets before the accept leaves no address to keep)
  end)

  it("on a connected stream whose peer closed", function()
    local err, port
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      port = l.port
      corral.group(function(g)
        g:spawn(function()
          local s = l:accept()
          s:close()
        end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        corral.sleep(0.05)
        local ok = true
        while ok do ok, err = pcall(c.write, c, ("y"):rep(65536)) end
      end)
    end)
    assert.is_true(err.code == "EPIPE" or err.code == "ECONNRESET", err.code)
    assert.equal(("127.0.0.1:%d"):format(port), err.address)
  end)
end)
