-- bench/peers/common.lua -- what every Lua peer shares: arguments, the
-- fixed pseudo-random durations of W4, RSS readings, percentiles, and the
-- RESULT line the runner parses. Mirrored by common.py for Python peers.
local M = {}

-- Default N per workload; the runner passes its own.
M.default_n = {W1 = 100000, W2 = 100000, W3 = 1000000, W4 = 100000,
               W5 = 100000, W6 = 100, W7 = 100000}
M.CHURN_BATCH = 1000     -- W7: tasks per batch

-- peer.lua W [N] [seconds]: seconds only matters for W6 (run length).
function M.args(...)
  local w, n, secs = ...
  if not M.default_n[w or ""] then
    io.stderr:write("usage: peer.lua W1|W2|W3|W4|W5|W6|W7 [N] [seconds]\n")
    os.exit(2)
  end
  return w, math.tointeger(tonumber(n)) or M.default_n[w], tonumber(secs) or 2
end

function M.fail(fmt, ...)
  io.stderr:write("FAIL: ", fmt:format(...), "\n")
  io.stderr:flush()
  os.exit(1)
end

function M.check(cond, fmt, ...)
  if not cond then M.fail(fmt, ...) end
end

-- CPU time: mark() where the timed window starts; result() then adds
-- cpu_s, the process's CPU time since, which other load on the machine does
-- not inflate (the bare-Lua floor can only measure CPU time).
local cpu0
function M.mark() cpu0 = os.clock() end

-- W2: a full collection just before the timed window, so the garbage and
-- the collector's debt the set-up left are not charged to the cancel.
function M.settle() collectgarbage() end

-- RESULT W1 seconds=0.123 n=100000; keys in the order given.
function M.result(w, ...)
  local parts = {"RESULT", w}
  local kv = table.pack(...)
  if cpu0 then
    kv[kv.n + 1], kv[kv.n + 2], kv.n = "cpu_s", os.clock() - cpu0, kv.n + 2
  end
  for i = 1, kv.n, 2 do
    local v = kv[i + 1]
    parts[#parts + 1] = ("%s=%s"):format(kv[i],
      math.type(v) == "float" and ("%.6g"):format(v) or tostring(v))
  end
  print(table.concat(parts, " "))
  io.stdout:flush()
end

-- W4 durations: x <- (1103515245 x + 12345) mod 2^31 from seed 42, and
-- d = x / 2^31 * 0.5, so every peer sleeps the same sequence in [0, 0.5).
function M.durations(n)
  local x, d = 42, {}
  for i = 1, n do
    x = (1103515245 * x + 12345) % 2147483648
    d[i] = x / 2147483648 * 0.5
  end
  return d
end

-- VmRSS and VmHWM in bytes, from /proc/self/status.
function M.mem()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) * 1024,
         tonumber(s:match("VmHWM:%s*(%d+)")) * 1024
end

-- Baseline for W5: collect garbage, reset the peak (VmHWM) to the current
-- RSS so start-up transients do not count, then read the RSS.
function M.mem_baseline()
  collectgarbage("collect")
  collectgarbage("collect")
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5"); f:close() end
  return (M.mem())
end

-- Nearest-rank percentile of a sorted array, p in (0, 1].
function M.percentile(sorted, p)
  local i = math.max(1, math.ceil(#sorted * p))
  return sorted[i]
end

-- Lateness report for W4: late[i] is in seconds.
function M.report_w4(w, n, total, late)
  M.check(#late == n, "%d of %d sleepers woke", #late, n)
  local sum = 0
  for i = 1, n do
    M.check(late[i] ~= nil, "sleeper %d never woke", i)
    sum = sum + late[i]
  end
  table.sort(late)
  M.result(w, "overhead_per_task_us", (total - 0.5) / n * 1e6,
           "total_s", total,
           "late_mean_ms", sum / n * 1e3,
           "late_p99_ms", M.percentile(late, 0.99) * 1e3,
           "late_min_ms", late[1] * 1e3, "n", n)
end

-- W6 report: lat holds every request's latency in seconds.
function M.report_w6(w, clients, reqs, elapsed, lat)
  M.check(reqs > 0 and #lat == reqs, "echo: %d requests, %d latencies",
          reqs, #lat)
  table.sort(lat)
  M.result(w, "rps", reqs / elapsed, "p99_ms", M.percentile(lat, 0.99) * 1e3,
           "requests", reqs, "clients", clients, "seconds", elapsed)
end

M.MSG = string.rep("x", 63) .. "\n"   -- the 64-byte echo message

return M
