-- chat.lua: a chat server on corral.tcp.serve; Ctrl-C drains it gracefully.
local corral = require "corral"
local clients = {}                            -- stream -> name

corral.group(function(g)
  g:spawn(corral.tcp.serve, "127.0.0.1", tonumber(arg and arg[1]) or 7000, function(s)
    local peer = s.peer                       -- nil if it reset before the accept
    local name = peer and peer.address .. ":" .. peer.port or "?"
    clients[s] = name
    local _ <close> = setmetatable({}, {__close = function() clients[s] = nil end})
    for line in s:lines() do
      for c in pairs(clients) do
        if c ~= s then pcall(c.write, c, name .. ": " .. line .. "\n") end
      end
    end
  end, {ready = function(port) print("chat on port " .. port) end})
  corral.signal("SIGINT")                     -- Ctrl-C: drain instead of dying
  for c in pairs(clients) do pcall(c.write, c, "server: closing in 5 s\n") end
  g:stop(5)                                   -- no new clients; 5 s to say goodbye
end)
