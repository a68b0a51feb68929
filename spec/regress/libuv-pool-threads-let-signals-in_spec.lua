-- spec/regress/libuv-pool-threads-let-signals-in_spec.lua
--
-- Broke: the first name resolution started libuv's thread pool from the
-- loop's thread, and its threads inherited that thread's signal mask, so a
-- SIGINT or SIGTERM could be handled in one of them, racing with the loop
-- (a verifier's two-engine host saw a signal delivered twice through such a
-- race). The resolution that starts the pool now does it with every signal
-- blocked: its threads never take one.
local corral = require "corral"

-- The SigBlk masks of this process's threads other than its main one.
local function other_threads_masks()
  local self = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
  local masks, ls = {}, io.popen("ls /proc/" .. self .. "/task")
  for tid in ls:lines() do
    if tid ~= self then
      local f = io.open("/proc/" .. self .. "/task/" .. tid .. "/status")
      if f then
        masks[#masks + 1] = tonumber(f:read("a"):match("SigBlk:%s*(%x+)"), 16)
        f:close()
      end
    end
  end
  ls:close()
  return masks
end

describe("regression: libuv's thread pool", function()
  it("blocks SIGINT and SIGTERM in the threads the first resolve starts", function()
    corral.run(function() corral.resolve("localhost") end)
    local masks = other_threads_masks()
    assert.is_true(#masks > 0, "no pool thread")
    for _, m in ipairs(masks) do
      assert.equal(1, (m >> 1) & 1, ("SIGINT open in a pool thread (SigBlk %x)"):format(m))
      assert.equal(1, (m >> 14) & 1, ("SIGTERM open in a pool thread (SigBlk %x)"):format(m))
    end
  end)
end)
