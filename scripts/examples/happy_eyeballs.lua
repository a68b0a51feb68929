-- happy_eyeballs.lua: RFC 8305 connection racing against a local listener.
local corral = require "corral"
local happy_eyeballs = require "corral.happy_eyeballs"
local function log(fmt, ...) print(("[%.2f] " .. fmt):format(corral.now(), ...)) end

local listener <close> = corral.tcp.listen("127.0.0.1", 0)
local port = listener.port

-- A name with three addresses, tried with the families alternating: ::1 has no
-- listener (refused at once), 192.0.2.1 stands for a host that never answers
-- (simulated, so the example needs no network), 127.0.0.1 accepts.
local function resolve()
  return {
    { address = "::1", family = "inet6" },
    { address = "::2", family = "inet6" },
    { address = "192.0.2.1", family = "inet" },
    { address = "127.0.0.1", family = "inet" },
  }
end
local function connect(address, p)
  log("trying %s", address)
  if address == "192.0.2.1" or address == "::2" then
    local ok, err = pcall(corral.sleep, math.huge)   -- a black hole
    log("gave up on %s: %s", address, tostring(err))
    error(err, 0)
  end
  return corral.tcp.connect(address, p)
end

local stream <close> = happy_eyeballs.connect("example.test", port, { resolve = resolve, connect = connect })
local peer <close> = listener:accept()
stream:write("hello")
log("connected; the server read %q", peer:read())

-- When every attempt fails, one ErrorGroup names each address.
listener:close()
local ok, eg = pcall(happy_eyeballs.connect, "dual.test", port, { resolve = function()
  return { { address = "127.0.0.1", family = "inet" }, { address = "::1", family = "inet6" } }
end })
print(ok, eg.message)
print(eg)
