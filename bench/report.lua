-- bench/report.lua -- turns the raw lines bench/run collected into the
-- Markdown tables: min / median per peer and workload, corral's ratio to
-- each peer (medians) against the issue's targets, and corral's scaling.
--   lua5.4 bench/report.lua RAW
-- RAW has one line per program run, tab-separated:
--   section  rep  peer  workload  N  status  key=value key=value ...
-- section is "main" or "scale"; status is "ok", "fail" or "timeout".

local PEERS = {"corral", "cmd", "bare", "epoll", "cqueues", "luv", "asyncio",
               "trio", "anyio"}
local PEER_TITLE = {corral = "corral", cmd = "corral command",
  bare = "bare Lua (floor)", epoll = "C epoll (W6 floor)",
  cqueues = "cqueues", luv = "hand-written luv", asyncio = "asyncio",
  trio = "Trio", anyio = "AnyIO"}

-- Rows: workload, metric key, label, scale to display units, higher is better.
local ROWS = {
  {w = "W1", key = "seconds", label = "W1 spawn_join, ms", mul = 1e3},
  {w = "W2", key = "seconds", label = "W2 cancel (with unwinding), ms",
   mul = 1e3},
  {w = "W3", key = "ns_per_handoff", label = "W3 ping_pong, ns per hand-off"},
  {w = "W4", key = "overhead_per_task_us",
   label = "W4 timers: overhead per task, µs"},
  {w = "W4", key = "late_mean_ms", label = "W4 timers: lateness mean, ms",
   extra = true},
  {w = "W4", key = "late_p99_ms", label = "W4 timers: lateness p99, ms",
   extra = true},
  {w = "W5", key = "bytes_per_task", label = "W5 idle memory, bytes per task"},
  {w = "W6", key = "rps", label = "W6 echo, requests/s", higher = true},
  {w = "W6", key = "p99_ms", label = "W6 echo: p99 latency, ms",
   extra = true},
  {w = "W7", key = "seconds", label = "W7 churn (batches of 1000), ms",
   mul = 1e3},
}

-- Targets for corral / peer (medians): "<= x", or ">= x" when higher is
-- better; false: the peer cannot do it ("—").
local TARGETS = {
  W1 = {bare = 1.15, cqueues = 0.6, luv = 0.7, asyncio = 0.2},
  W2 = {bare = 1.0, cqueues = false, luv = 0.6, asyncio = 0.15},
  W3 = {bare = 1.0, cqueues = 0.6, luv = 0.6, asyncio = 0.15},
  W4 = {bare = false, cqueues = 0.6, luv = 0.4, asyncio = 0.1},
  W5 = {bare = 1.2, cqueues = 0.9, luv = 1.0, asyncio = false},
  W6 = {bare = false, cqueues = 1.0, luv = 1.0, asyncio = 2.0},
  W7 = {bare = 0.9},
}
-- The `corral` command's column: its median ÷ the floor's (bare Lua).
local CMD_TARGETS = {W1 = 0.8, W5 = 1.2, W7 = 0.9}
-- Workloads a peer cannot run at all.
local ONLY_W6 = "W6 only"
local CANNOT = {bare = {W4 = "no timers", W6 = "no I/O"},
                epoll = {W1 = ONLY_W6, W2 = ONLY_W6, W3 = ONLY_W6, W4 = ONLY_W6,
                         W5 = ONLY_W6, W7 = ONLY_W6},
                cqueues = {W2 = "cannot unwind"},
                luv = {W7 = "not written"}, asyncio = {W7 = "not written"},
                trio = {W7 = "not written"}, anyio = {W7 = "not written"}}

local raw = assert(arg[1], "usage: report.lua RAW")

-- samples[section][peer][workload][N][key] = {values...}; fails likewise.
local samples, fails, ns, ran = {main = {}, scale = {}}, {}, {}, {}
for line in io.lines(raw) do
  local section, _, peer, w, n, status, kv =
    line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)\t?(.*)$")
  if section and samples[section] then
    n = tonumber(n)
    if status == "ok" then
      local s = samples[section]
      s[peer] = s[peer] or {}
      s[peer][w] = s[peer][w] or {}
      s[peer][w][n] = s[peer][w][n] or {}
      local cell = s[peer][w][n]
      for k, v in kv:gmatch("(%S+)=(%S+)") do
        v = tonumber(v)
        if v then
          cell[k] = cell[k] or {}
          table.insert(cell[k], v)
        end
      end
    else
      local k = section .. " " .. peer .. " " .. w .. " " .. n
      fails[k] = (fails[k] or 0) + 1
    end
    if section == "main" then ns[w] = n; ran[peer] = true end
  end
end

local function sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c
end

local function median(t)
  local c = sorted(t)
  local m = #c // 2
  if #c % 2 == 1 then return c[m + 1] end
  return (c[m] + c[m + 1]) / 2
end

-- 3 significant digits, no exponent for the ranges seen here.
local function fmt(v)
  if v == nil then return "?" end
  local a = math.abs(v)
  if a >= 100 then return ("%.0f"):format(v) end
  if a >= 10 then return ("%.1f"):format(v) end
  if a >= 1 then return ("%.2f"):format(v) end
  if a >= 0.01 then return ("%.3f"):format(v) end
  return ("%.2g"):format(v)
end

local function values(section, peer, w, n, key)
  local p = samples[section][peer]
  local cell = p and p[w] and p[w][n]
  return cell and cell[key]
end

local function stats(section, peer, w, n, key, mul)
  local v = values(section, peer, w, n, key)
  if not v or #v == 0 then return nil end
  local s = sorted(v)
  return s[1] * (mul or 1), median(v) * (mul or 1), #v
end

-- ------------------------------------------------------------ main table
local out = {}
local function emit(s) out[#out + 1] = s end

local present = {}
for _, p in ipairs(PEERS) do
  if ran[p] then present[#present + 1] = p end
end

emit("Cells: min / median over the repetitions. For each peer, r = corral's")
emit("median ÷ the peer's median (W6 requests/s: higher is better, so the")
emit("target is r ≥ x; everywhere else lower is better and the target is")
emit("r ≤ x), then ✓ or ✗ against the issue's target where it sets one.")
emit("")
local head = {"workload"}
for _, p in ipairs(present) do head[#head + 1] = PEER_TITLE[p] end
emit("| " .. table.concat(head, " | ") .. " |")
emit("|" .. string.rep("---|", #head))

local verdicts = {}
for _, row in ipairs(ROWS) do
  local n = ns[row.w]
  if n == nil then goto next_row end
  local label = row.label .. (n and (" (N=%s)"):format(n) or "")
  local cells = {label}
  local _, cmed = stats("main", "corral", row.w, n, row.key, row.mul)
  for _, p in ipairs(present) do
    local cannot = CANNOT[p] and CANNOT[p][row.w]
    local mn, med, count = stats("main", p, row.w, n, row.key, row.mul)
    local cell
    if cannot then
      cell = "— (" .. cannot .. ")"
    elseif not mn then
      local f = fails["main " .. p .. " " .. row.w .. " " .. tostring(n)]
      cell = f and ("FAILED ×%d"):format(f) or "—"
    else
      cell = fmt(mn) .. " / " .. fmt(med)
      local f = fails["main " .. p .. " " .. row.w .. " " .. tostring(n)]
      if f then cell = cell .. (" (%d failed)"):format(f) end
      local _, bmed = stats("main", "bare", row.w, n, row.key, row.mul)
      if p == "cmd" and bmed and bmed > 0 then
        local r = med / bmed
        cell = cell .. " · ÷floor=" .. fmt(r)
        local tgt = not row.extra and not row.cpu and CMD_TARGETS[row.w]
        if tgt then
          local ok = r <= tgt
          cell = cell .. (" %s≤%g"):format(ok and "✓" or "✗", tgt)
          verdicts[#verdicts + 1] = {ok = ok, w = row.w, p = p, r = r,
                                     tgt = tgt}
        end
      elseif p ~= "corral" and p ~= "cmd" and cmed then
        local r = med ~= 0 and cmed / med or nil
        if r and med > 0 and cmed >= 0 then
          cell = cell .. " · r=" .. fmt(r)
          local tgt = not row.extra and not row.cpu and TARGETS[row.w][p]
          if tgt then
            local ok = row.higher and r >= tgt or (not row.higher and r <= tgt)
            cell = cell .. (" %s%s%g"):format(ok and "✓" or "✗",
              row.higher and "≥" or "≤", tgt)
            verdicts[#verdicts + 1] = {ok = ok, w = row.w, p = p, r = r,
                                       tgt = tgt, higher = row.higher}
          end
        else
          cell = cell .. " · r=n/a"
        end
      end
    end
    cells[#cells + 1] = cell
  end
  emit("| " .. table.concat(cells, " | ") .. " |")
  ::next_row::
end

-- Targets the run could not judge (a peer failed or was not run).
for w, t in pairs(TARGETS) do
  for p, tgt in pairs(t) do
    if tgt and ns[w] and ran[p] then
      local seen = false
      for _, v in ipairs(verdicts) do
        if v.w == w and v.p == p then seen = true end
      end
      if not seen then
        verdicts[#verdicts + 1] = {ok = nil, w = w, p = p, tgt = tgt}
      end
    end
  end
end
table.sort(verdicts, function(a, b)
  if a.w ~= b.w then return a.w < b.w end
  return a.p < b.p
end)
local met, total, missed, unjudged = 0, 0, {}, {}
for _, v in ipairs(verdicts) do
  if v.ok == nil then
    unjudged[#unjudged + 1] = v.w .. " vs " .. v.p
  else
    total = total + 1
    if v.ok then met = met + 1
    else
      missed[#missed + 1] = ("%s vs %s (r=%s, target %s%g)"):format(
        v.w, v.p, fmt(v.r), v.higher and "≥" or "≤", v.tgt)
    end
  end
end
emit("")
emit(("Targets met: %d of %d."):format(met, total))
if #missed > 0 then emit("Missed: " .. table.concat(missed, "; ") .. ".") end
if #unjudged > 0 then
  emit("Not judged (peer missing or failed): " ..
       table.concat(unjudged, ", ") .. ".")
end

-- ------------------------------------------------------------ CPU time
-- The bare-Lua floor measures CPU time; when other work loads the machine
-- the wall-clock peers look worse than they are. cpu_s is the process's CPU
-- time over the same window, for the CPU-bound W1-W3.
do
  local lines = {}
  for _, row in ipairs(ROWS) do
    local w = row.w
    if (w == "W1" or w == "W2" or w == "W3" or w == "W7") and ns[w]
        and not row.extra then
      local _, cmed = stats("main", "corral", w, ns[w], "cpu_s")
      local _, cwall = stats("main", "corral", w, ns[w], row.key, row.mul)
      if cmed then
        local cells = {row.label:match("^(W%d [^,]+)")}
        for _, p in ipairs(present) do
          if p == "cmd" then           -- the command ÷ the floor
            local _, m1 = stats("main", p, w, ns[w], "cpu_s")
            local _, m2 = stats("main", "bare", w, ns[w], "cpu_s")
            cells[#cells + 1] = (m1 and m2 and m2 > 0) and fmt(m1 / m2) or "—"
          elseif p ~= "corral" then
            local _, med = stats("main", p, w, ns[w], "cpu_s")
            cells[#cells + 1] = (med and med > 0) and fmt(cmed / med) or "—"
          end
        end
        lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
      end
    end
  end
  if #lines > 0 then
    emit("")
    emit("Cross-check on CPU time (not inflated by other load on the machine):")
    emit("corral's median CPU seconds over the timed window ÷ the peer's")
    emit("(the corral command's column: the command's ÷ the floor's).")
    emit("")
    local h = {"workload"}
    for _, p in ipairs(present) do
      if p == "cmd" then h[#h + 1] = "corral command ÷ floor"
      elseif p ~= "corral" then h[#h + 1] = "r vs " .. PEER_TITLE[p] end
    end
    emit("| " .. table.concat(h, " | ") .. " |")
    emit("|" .. string.rep("---|", #h))
    for _, l in ipairs(lines) do emit(l) end
  end
end

-- ------------------------------------------------------------ scaling
local SCALE = {
  {w = "W1", key = "seconds", per_n = true, label = "W1 spawn_join, µs per task"},
  {w = "W2", key = "seconds", per_n = true,
   label = "W2 cancel (with unwinding), µs per task"},
  {w = "W5", key = "bytes_per_task", label = "W5 idle memory, bytes per task"},
  {w = "W4", key = "overhead_per_task_us",
   label = "W4 timers: overhead per task, µs"},
  {w = "W4", key = "late_p99_ms", label = "W4 timers: lateness p99, ms",
   extra = true},
}
-- The scaling table of one peer (corral under require, or the command).
local function scale_table(peer)
  local scale_ns, seen = {}, {}
  for _, byw in pairs(samples.scale[peer] or {}) do
    for n in pairs(byw) do
      if not seen[n] then seen[n] = true; scale_ns[#scale_ns + 1] = n end
    end
  end
  table.sort(scale_ns)
  if #scale_ns == 0 then return end
  emit("")
  emit(("### Scaling (%s)"):format(PEER_TITLE[peer]))
  emit("")
  emit("Median per-task cost at each N (min / median); spread = largest ÷")
  emit("smallest median; the target is spread ≤ 1.5 (linear growth, flat")
  emit("timer overhead).")
  emit("")
  local h = {"workload"}
  for _, n in ipairs(scale_ns) do h[#h + 1] = ("N=%d"):format(n) end
  h[#h + 1] = "spread"
  emit("| " .. table.concat(h, " | ") .. " |")
  emit("|" .. string.rep("---|", #h))
  for _, row in ipairs(SCALE) do
    local cells, lo, hi = {row.label}, math.huge, -math.huge
    for _, n in ipairs(scale_ns) do
      local mul = row.per_n and 1e6 / n or 1
      local mn, med = stats("scale", peer, row.w, n, row.key, mul)
      if mn then
        cells[#cells + 1] = fmt(mn) .. " / " .. fmt(med)
        lo, hi = math.min(lo, med), math.max(hi, med)
      else
        local f = fails[("scale %s %s %s"):format(peer, row.w, n)]
        cells[#cells + 1] = f and "FAILED" or "—"
      end
    end
    if hi >= lo and lo > 0 then
      local spread = hi / lo
      cells[#cells + 1] = fmt(spread) .. (row.extra and "" or
        (spread <= 1.5 and " ✓" or " ✗"))
    else
      cells[#cells + 1] = "n/a"
    end
    emit("| " .. table.concat(cells, " | ") .. " |")
  end
end
scale_table("corral")
scale_table("cmd")

if next(fails) then
  emit("")
  local f = {}
  for k, c in pairs(fails) do f[#f + 1] = ("%s ×%d"):format(k, c) end
  table.sort(f)
  emit("Failed runs (section peer workload N): " .. table.concat(f, "; ") .. ".")
end

print(table.concat(out, "\n"))
