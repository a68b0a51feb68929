-- tools/soak.lua -- spawn and finish tasks continuously and check that
-- memory stays flat.
--
--   lua5.4 tools/soak.lua [waves=200] [per_wave=5000]   (make soak)
--
-- Each wave opens groups, spawns tasks that sleep, fail, swallow
-- Cancelled, use channels and locks, then cancels or stops the groups.
-- After every wave a full GC runs and the Lua heap is sampled; the run
-- fails if the heap of the last tenth of the waves is more than 10% (plus
-- 256 kB) above the heap after the first tenth, or if any wave leaves
-- anything alive (corral.debug_stats()).
local corral = require "corral"

local waves, per_wave = ...          -- as a script, or from loadfile()
waves = tonumber(waves) or 200
per_wave = tonumber(per_wave) or 5000

local function lcg(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n
  end
end

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
  return 0
end

-- One wave inside a long-lived run: returns how many tasks it spawned.
local function wave(rnd)
  local tasks = 0
  local ch, lock = corral.channel(4), corral.lock()
  local ok, err = pcall(corral.group, function(top)
    for k = 1, 4 do
      top:spawn(function()
        corral.group(function(g)
          for i = 1, per_wave // 4 do
            tasks = tasks + 1
            local kind = rnd(6)
            g:spawn(function()
              local _ <close> = setmetatable({}, { __close = function() end })
              if kind == 0 then corral.sleep(rnd(100) / 1000)
              elseif kind == 1 then corral.checkpoint() error("soak failure " .. i)
              elseif kind == 2 then pcall(corral.sleep, math.huge) corral.sleep(math.huge)
              elseif kind == 3 then ch:send(i) ch:recv()
              elseif kind == 4 then lock:with(corral.sleep, 0)
              else corral.sleep(math.huge) end
            end)
          end
          corral.sleep(0.05)
          if k % 2 == 0 then g:cancel("wave over") else g:stop(0.01) end
        end, { defer_errors = true, max_errors = 50 })
      end)
    end
  end)
  assert(not ok and corral.is_error_group(err), "the failures must surface")
  return tasks
end

local samples, rss, total = {}, {}, 0
corral.run(function()
  local rnd = lcg(42)
  for w = 1, waves do
    total = total + wave(rnd)
    local st = corral.debug_stats()      -- only the root task is left
    if st.tasks ~= 1 or st.scopes ~= 1 or st.timers ~= 0 or st.refs ~= 1
       or st.records ~= 0 then
      error(string.format("wave %d left tasks=%d scopes=%d timers=%d refs=%d "
        .. "records=%d", w, st.tasks, st.scopes, st.timers, st.refs, st.records))
    end
    collectgarbage()
    collectgarbage()
    samples[w], rss[w] = collectgarbage("count"), rss_kb()
  end
end, { clock = "virtual" })
for k, v in pairs(corral.debug_stats()) do
  if v ~= 0 then error(string.format("the run left %d %s alive", v, k)) end
end
local tenth = math.max(1, waves // 10)
local function mean(a, b)
  local s = 0
  for i = a, b do s = s + samples[i] end
  return s / (b - a + 1)
end
local early, late = mean(1, tenth), mean(waves - tenth + 1, waves)
print(string.format("soak: %d waves, %d tasks, Lua heap %.0f kB early, %.0f kB "
  .. "late; RSS %d kB after wave 1, %d kB at the end", waves, total, early, late,
  rss[1], rss[waves]))
if late > early * 1.10 + 256 then
  error(string.format("memory grew: %.0f kB -> %.0f kB", early, late))
end
