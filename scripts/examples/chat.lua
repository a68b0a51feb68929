-- chat.lua: a chat server on corral.tcp.serve; Ctrl-C drains it gracefully.
-- Each client has an outbox of 64 lines and a writer task of its own: a client
-- that stops reading loses lines, instead of stalling everyone who talks.
local corral = require "corral"
local outboxes = {}                           -- stream -> channel of lines

local function post(box, line)                -- never waits; a full box drops it
  pcall(box.try_send, box, line)              -- (and a closed one raises)
end

corral.group(function(g)
  g:spawn(corral.tcp.serve, "127.0.0.1", tonumber(arg and arg[1]) or 7000, function(s)
    local peer = s.peer                       -- nil if it reset before the accept
    local name = peer and peer.address .. ":" .. peer.port or "?"
    local handlers = corral.current_task().group   -- serve's, stopped with g
    local box = corral.channel(64)
    corral.group(function(conn)
      conn:spawn(function()                   -- the writer, in order; a client
        for line in box:iter() do             -- gone ends it quietly
          if not pcall(s.write, s, line) then return end
        end
      end)
      local bye = conn:spawn(function()       -- a stop: the goodbye waits for
        handlers:wait_stopping()              -- room in the outbox, never dropped
        box:send("server: closing in 5 s\n")
      end)
      outboxes[s] = box
      local _ <close> = setmetatable({}, {__close = function()
        outboxes[s] = nil
        bye:cancel()                          -- the client left first (or broke)
        box:close()                           -- the writer sends what is left
      end})
      for line in s:lines() do                -- (a line over 64 KiB ends it)
        for c, b in pairs(outboxes) do
          if c ~= s then post(b, name .. ": " .. line .. "\n") end
        end
        corral.checkpoint()                   -- the writers' turn: a pasted
      end                                     -- burst is read a line at a time
    end)
  end, {ready = function(port) print("chat on port " .. port) end})
  corral.signal("SIGINT")                     -- Ctrl-C: drain instead of dying
  g:stop(5)                                   -- no new clients; 5 s to say goodbye
end)
