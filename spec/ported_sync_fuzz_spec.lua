-- spec/ported_sync_fuzz_spec.lua: seeded runs of producers and consumers (and
-- semaphore holders) cancelled at random: every value whose send returned is
-- received exactly once, none whose send raised is, and every permit comes back.
local corral = require "corral"
local testing = require "corral.testing"

local function chan_conservation(seed, cap)
  local rnd = (function() local x = seed * 7919 + 1; return function(n) x = (x * 1103515245 + 12345) % 2147483648; return x % n end end)()
  local sent_ok, recvd, raised_after = {}, {}, {}
  testing.run(function()
    local ch = corral.channel(cap)
    corral.group(function(g)
      for i = 1, 20 do
        local to = rnd(5) * 0.5
        local shield_flip = rnd(4) == 0
        g:spawn(function()
          corral.sleep(rnd(3) * 0.5)
          local ok, err = pcall(function()
            corral.scope(function(s)
              if shield_flip then g:spawn(function() corral.sleep(to); s:cancel() end) end
              if not shield_flip then s.deadline = corral.now() + to end
              ch:send(i)
              sent_ok[i] = true
            end)
          end)
          if not ok then raised_after[i] = tostring(err) end
        end)
      end
      for r = 1, 5 do
        local to = rnd(6) * 0.5
        g:spawn(function()
          corral.move_on_after(to + 0.25, function()
            while true do
              local v = ch:recv()
              if v == nil then break end
              assert.is_nil(recvd[v], "duplicate " .. v)
              recvd[v] = r
              corral.sleep(rnd(2) * 0.5)
            end
          end)
        end)
      end
    end)
    while true do
      local v, why = ch:try_recv()
      if v == nil then break end
      assert.is_nil(recvd[v], "duplicate buffered " .. v)
      recvd[v] = "buf"
    end
  end, { seed = seed })
  for i = 1, 20 do
    if sent_ok[i] then assert.truthy(recvd[i], ("seed %d cap %s: value %d sent but lost"):format(seed, cap, i))
    else assert.is_nil(recvd[i], ("seed %d cap %s: value %d not sent but received"):format(seed, cap, i)) end
  end
end

describe("fuzz", function()
  it("channel conservation", function()
    for _, cap in ipairs({0, 1, 3, 100, math.huge}) do
      for seed = 1, 150 do chan_conservation(seed, cap) end
    end
  end)

  it("semaphore conservation under cancels", function()
    for seed = 1, 300 do
      local rnd = (function() local x = seed; return function(n) x = (x * 1103515245 + 12345) % 2147483648; return x % n end end)()
      local final
      testing.run(function()
        local s = corral.semaphore(2)
        local inside = 0
        corral.group(function(g)
          for _ = 1, 15 do
            local to, hold = rnd(4) * 0.5, rnd(3) * 0.5
            g:spawn(function()
              corral.move_on_after(to, function()
                s:with(function()
                  inside = inside + 1
                  assert(inside <= 2, "too many inside")
                  local ok, e = pcall(corral.sleep, hold)
                  inside = inside - 1
                  if not ok then error(e, 0) end
                end)
              end)
            end)
          end
          for _ = 1, 4 do
            local at = rnd(5) * 0.5
            g:spawn(function()
              corral.sleep(at)
              local ts = g:tasks()
              if #ts > 0 then ts[rnd(#ts) + 1]:cancel() end
            end)
          end
        end)
        final = s.value
        assert.equal(0, s.waiting)
      end, { seed = seed })
      assert.equal(2, final, "seed " .. seed)
    end
  end)
end)
