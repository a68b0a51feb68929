-- hash.lua: run by examples/host/hashhost.c, which offers
-- hash.file(path [, delay_ms]) -> hex digest, size: a file hashed in
-- chunks on libuv's thread pool (delay_ms per chunk plays a slow disk).
local corral = require "corral"
local hash = require "hash"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local files = {...}
if #files == 0 then
  files = {dir .. "hash.lua", dir .. "hashhost.c", dir .. "no-such-file"}
end
local function log(fmt, ...) print(("[%.2f] " .. fmt):format(corral.now(), ...)) end

-- Every file at once; one failing does not stop the others.
local ok, eg = pcall(corral.group, function(g)
  for _, path in ipairs(files) do
    g:spawn({function()
      local digest, size = corral.fail_after(2, hash.file, path, 20)
      log("%s  %s (%d bytes)", digest, path:match("[^/]*$"), size)
    end, name = path:match("[^/]*$")})
  end
end, {defer_errors = true})
if not ok then
  if not corral.is_error_group(eg) then error(eg, 0) end
  log("%d of %d failed:\n%s", #eg, #files, tostring(eg))
end

-- A job that takes too long is cancelled between two chunks.
local finished = corral.move_on_after(0.1, hash.file, files[1], 1000)
log("slow job %s", finished and "finished" or "cancelled after 0.1 s")

-- Until the host says stop (SIGINT, its time limit), if asked to linger.
if os.getenv("HASH_LINGER") then
  while true do
    log("lingering: %s", (hash.file(files[1], 100)))
  end
end
return #files - (ok and 0 or #eg)
