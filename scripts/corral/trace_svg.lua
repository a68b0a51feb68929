-- corral.trace_svg: a trace file (corral.run{trace = ...}) as a
-- self-contained SVG timeline.
--
--   corral trace-svg out.json > out.svg
--   require("corral.trace_svg").render(json_text [, opts]) -> svg text
--
-- A lane per task under a header per group (the file's processes and
-- threads), coloured by state: running, waiting (parked), unwinding (running
-- while a cancel reaches it); cancels and errors are marked; a time axis on
-- top. A group with more than opts.max_lanes (default 24) tasks collapses
-- into one lane whose shade shows how many of its tasks are in each state,
-- so thousands of tasks stay readable. Drawing is quantised to pixels:
-- the file stays small whatever the number of events.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local error, io, ipairs, next, pairs, pcall, tonumber, tostring, type, utf8 =
  error, io, ipairs, next, pairs, pcall, tonumber, tostring, type, utf8
local byte, char, find, fmt, gsub, match, sub = string.byte, string.char,
  string.find, string.format, string.gsub, string.match, string.sub
local concat, insert, sort = table.concat, table.insert, table.sort
local HUGE, abs, ceil, floor, log, max, min, tointeger = math.huge, math.abs,
  math.ceil, math.floor, math.log, math.max, math.min, math.tointeger
local M = {}

-- --- JSON (what ltrace.lua writes, and any other valid JSON) -------------

local MAX_DEPTH = 200        -- corral's traces nest 4 deep

local function decode(s)
  local pos, depth = 1, 0
  local value
  local function fail(what) error(fmt("trace-svg: bad JSON at byte %d: %s", pos, what), 0) end
  local function ws() pos = find(s, "[^ \t\r\n]", pos) or #s + 1 end
  local ESC = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function str()
    local out, i = {}, pos + 1
    while true do
      local j = find(s, '["\\]', i)
      if not j then fail("unterminated string") end
      out[#out + 1] = sub(s, i, j - 1)
      if sub(s, j, j) == '"' then pos = j + 1; return concat(out) end
      local c = sub(s, j + 1, j + 1)
      if c == "u" then
        local hex = sub(s, j + 2, j + 5)
        local cp = match(hex, "^%x%x%x%x$") and tonumber(hex, 16) or fail("bad \\u escape")
        out[#out + 1] = utf8.char(cp)
        i = j + 6
      else
        out[#out + 1] = ESC[c] or c
        i = j + 2
      end
    end
  end
  local function nest(d)
    depth = depth + d
    if depth > MAX_DEPTH then fail(fmt("nested more than %d deep", MAX_DEPTH)) end
  end
  function value()
    ws()
    local c = sub(s, pos, pos)
    if c == "{" or c == "[" then nest(1) end
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if sub(s, pos, pos) == "}" then pos = pos + 1; nest(-1); return t end
      repeat
        ws()
        if sub(s, pos, pos) ~= '"' then fail("expected a key") end
        local k = str(); ws()
        if sub(s, pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value(); ws()
        c = sub(s, pos, pos); pos = pos + 1
      until c ~= ","
      if c ~= "}" then fail("expected '}'") end
      nest(-1)
      return t
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if sub(s, pos, pos) == "]" then pos = pos + 1; nest(-1); return t end
      repeat
        t[#t + 1] = value(); ws()
        c = sub(s, pos, pos); pos = pos + 1
      until c ~= ","
      if c ~= "]" then fail("expected ']'") end
      nest(-1)
      return t
    elseif c == '"' then return str()
    elseif find(s, "^true", pos) then pos = pos + 4; return true
    elseif find(s, "^false", pos) then pos = pos + 5; return false
    elseif find(s, "^null", pos) then pos = pos + 4; return nil
    end
    if pos > #s then fail("unexpected end of input (an empty or cut-off file?)") end
    local num = match(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" then fail("unexpected character") end
    pos = pos + #num
    return tonumber(num) or fail("bad number")
  end
  local v = value(); ws()
  if pos <= #s then fail("trailing characters") end
  return v
end
M.decode = decode

-- --- the model: groups, tasks, segments, marks ------------------------------

-- A field meant as text: a string, a number or a boolean written out; any
-- other value (a hand-edited or another tool's file) is none.
local function text(v)
  local ty = type(v)
  if ty == "string" then return v end
  if ty == "number" or ty == "boolean" then return tostring(v) end
  return nil
end

-- What a mark shows of an instant event's args.
local function mark_args(a)
  if type(a) ~= "table" then return {} end
  return { reason = text(a.reason), origin = text(a.origin), error = text(a.error),
           status = text(a.status) }
end

-- The events of a decoded trace: {traceEvents = [...]} or a bare array, as
-- the trace-event format has them (what they hold that cannot be drawn is
-- left out); anything else (null, a number, an object without traceEvents)
-- is no trace.
local function events_of(trace)
  if type(trace) == "table" and trace.traceEvents ~= nil then
    return type(trace.traceEvents) == "table" and trace.traceEvents or {}
  end
  if type(trace) == "table" and (trace[1] ~= nil or next(trace) == nil) then return trace end
  error("trace-svg: not a trace (a JSON object with traceEvents, or an array of events, expected)", 0)
end

local function model(trace)
  local events = events_of(trace)
  local groups, tasks = {}, {}
  local t0, t1 = HUGE, -HUGE
  local function group(pid)
    local g = groups[pid]
    if not g then g = { pid = pid, name = "group #" .. pid, tasks = {} }; groups[pid] = g end
    return g
  end
  local function task(pid, tid)
    local t = tasks[tid]
    if not t then
      t = { tid = tid, pid = pid, name = "task-" .. tid, segs = {}, marks = {} }
      tasks[tid] = t
      local g = group(pid)
      g.tasks[#g.tasks + 1] = t
    end
    return t
  end
  -- An event without the fields it needs (another tool's, a hand-edited
  -- file) is not drawn: a trace-event file is allowed other kinds.
  -- A time is a finite number of microseconds a double can still add to
  -- (2^53): huge or negative-huge ones would make the scale NaN.
  local function time(v) return type(v) == "number" and v == v and abs(v) < 2^53 end
  local function usable(e)
    if type(e) ~= "table" or type(e.pid) ~= "number" then return false end
    if e.ph == "M" then return type(e.tid) == "number" or e.name == "process_name" end
    return type(e.tid) == "number" and time(e.ts)
  end
  for _, e in ipairs(events) do
    if not usable(e) then -- skip it
    elseif e.ph == "M" and e.name == "process_name" then
      group(e.pid).name = type(e.args) == "table" and text(e.args.name) or group(e.pid).name
    elseif e.ph == "M" and e.name == "thread_name" then
      local t = task(e.pid, e.tid)
      t.name = type(e.args) == "table" and text(e.args.name) or t.name
    elseif e.ph == "X" then
      local t = task(e.pid, e.tid)
      if not time(e.dur) or e.dur < 0 then e.dur = 0 end
      t.segs[#t.segs + 1] = { e.ts, e.ts + (e.dur or 0), e.cat, text(e.name) or "?" }
      t0, t1 = min(t0, e.ts), max(t1, e.ts + (e.dur or 0))
    elseif e.ph == "i" then
      local t = task(e.pid, e.tid)
      t.marks[#t.marks + 1] = { e.ts, e.cat, text(e.name) or "?", mark_args(e.args) }
      t0, t1 = min(t0, e.ts), max(t1, e.ts)
    end
  end
  local list = {}
  for _, g in pairs(groups) do
    sort(g.tasks, function(a, b) return a.tid < b.tid end)
    list[#list + 1] = g
  end
  sort(list, function(a, b) return a.pid < b.pid end)
  if t0 > t1 then t0, t1 = 0, 1 end      -- nothing it can place: an empty picture
  -- a span too small to divide (0, subnormal) or not finite: one unit
  local span = t1 - t0
  if not (span >= 1e-6 and span < HUGE) then t1 = t0 + 1 end
  return list, t0, t1
end

-- --- drawing --------------------------------------------------------------

local COLOR = { run = "#2e7d32", wait = "#90caf9", unwinding = "#ef6c00" }
local W, LABEL, LANE, HEAD, TOP = 1200, 230, 14, 18, 46
local CLANE = 3 * LANE             -- a collapsed group: a row per state

-- Only characters XML 1.0 allows: a byte that is not UTF-8, a surrogate,
-- U+FFFE or U+FFFF becomes U+FFFD (a trace holds names and errors as the
-- program made them).
local function xml_chars(s)
  local out, i = {}, 1
  while i <= #s do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = sub(s, i); break end
    out[#out + 1] = sub(s, i, bad - 1)
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return (gsub(concat(out), "\239\191[\190\191]", "\u{FFFD}"))
end

-- Characters a renderer obeys rather than shows (as the task tree escapes
-- them): C1 controls, line and paragraph separators, bidi controls.
local OBEYED = { "\194[\128-\159]", "\216\156", "\226\128[\142\143\168-\174]", "\226\129[\166-\169]" }

-- XML text: the five specials escaped, and the control bytes XML 1.0
-- forbids (all below 0x20 but tab, LF and CR) replaced by "?", as are the
-- characters of OBEYED (a right-to-left override would reverse a label).
local function shown(s)
  s = gsub(xml_chars(tostring(s)), "[%z\1-\8\11\12\14-\31]", "?")
  for _, p in ipairs(OBEYED) do s = gsub(s, p, "?") end
  return s
end

local function esc(s)
  return (gsub(shown(s), "[<>&\"']", { ["<"] = "&lt;", [">"] = "&gt;",
    ["&"] = "&amp;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

-- Widths for cutting names to fit, in ems of the picture's font (DejaVu
-- Sans), on the wide side (what is drawn must not run off the picture):
-- none for what combines with the character before it (marks, Hebrew and
-- Arabic points, Indic and Thai vowel signs, Hangul's medial and final
-- jamo, joiners, variation selectors, tags); a whole em and more for CJK,
-- emoji, Cyrillic and Arabic letters and the general punctuation (— ‰).
local ZERO = {                           -- ranges of code points, in order
  {0x300, 0x36F}, {0x483, 0x489}, {0x591, 0x5BD}, {0x5BF, 0x5BF},
  {0x5C1, 0x5C2}, {0x5C4, 0x5C5}, {0x5C7, 0x5C7}, {0x610, 0x61A},
  {0x64B, 0x65F}, {0x670, 0x670}, {0x6D6, 0x6DC}, {0x6DF, 0x6E4},
  {0x6E7, 0x6E8}, {0x6EA, 0x6ED}, {0x1160, 0x11FF}, {0x1AB0, 0x1AFF},
  {0x1DC0, 0x1DFF}, {0x200B, 0x200D}, {0x20D0, 0x20DC}, {0x20E5, 0x20FF},
  {0xD7B0, 0xD7FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
  {0xE0020, 0xE007F}, {0xE0100, 0xE01EF},
}
-- Marks that combine with the letter before them but that a font may draw
-- apart (a box per code point where it lacks the script), or that enclose
-- it (a keycap): counted as wide as a letter, never cut from it.
local JOINING = {
  {0x7A6, 0x7B0}, {0x7EB, 0x7F3}, {0x8D3, 0x8FF}, {0xDCA, 0xDDF},
  {0xF71, 0xFBC}, {0x102B, 0x103E}, {0x135D, 0x135F}, {0x17B4, 0x17D3},
  {0x180B, 0x180F}, {0x20DD, 0x20E4}, {0x2DE0, 0x2DFF}, {0x3099, 0x309A},
  {0x1F3FB, 0x1F3FF},                    -- skin tones
}
local WIDE = {                           -- {first, last, ems}
  {0x152, 0x153, 1.2}, {0x1C4, 0x1CC, 1.4}, {0x1F1, 0x1F3, 1.4},  -- Œ, DŽ, LJ
  {0x400, 0x52F, 1.15}, {0x600, 0x6FF, 1.3}, {0x1100, 0x115F, 1.1},
  {0x2000, 0x206F, 1.4}, {0x2190, 0x2BFF, 1.3}, {0x2E80, 0xA4CF, 1.1},
  {0xAC00, 0xD7A3, 1.1}, {0xF900, 0xFAFF, 1.1}, {0xFE30, 0xFE4F, 1.1},
  {0xFB13, 0xFB17, 1.6}, {0xFF00, 0xFF60, 1.1}, {0xFFE0, 0xFFE6, 1.1},
  {0x1D400, 0x1D7FF, 1.3}, {0x1F000, 0x1FAFF, 1.25}, {0x20000, 0x3FFFD, 1.1},
}

local function in_ranges(cp, ranges)
  for _, r in ipairs(ranges) do
    if cp < r[1] then return nil end
    if cp <= r[2] then return r end
  end
end

-- Indic dependent vowel signs and viramas, Thai and Lao marks: by their
-- place in each script's block of 128.
local function indic_mark(cp)
  if cp >= 0x900 and cp <= 0xD7F then
    local o = cp % 0x80
    return o <= 0x03 or (o >= 0x3A and o <= 0x4F) or (o >= 0x51 and o <= 0x57)
      or o == 0x62 or o == 0x63
  end
  return cp == 0xE31 or (cp >= 0xE34 and cp <= 0xE3A) or (cp >= 0xE47 and cp <= 0xE4E)
    or cp == 0xEB1 or (cp >= 0xEB4 and cp <= 0xEBC) or (cp >= 0xEC8 and cp <= 0xECD)
end

-- (A script the font lacks is drawn a box per code point: an Indic or
-- Thai mark is counted as wide as one, though it is never cut from its
-- letter.)
local function combines(cp)
  return in_ranges(cp, ZERO) ~= nil or in_ranges(cp, JOINING) ~= nil or indic_mark(cp)
end

local function em(cp)
  if cp >= 128 then
    if in_ranges(cp, ZERO) then return 0 end
    if in_ranges(cp, JOINING) or indic_mark(cp) then return 0.9 end
    local r = in_ranges(cp, WIDE)
    return r and r[3] or 1.0
  end
  local c = char(cp)
  if find(c, "[WMm@%%]") then return 1.0 end
  if find(c, "[#+<=>^~w]") then return 0.88 end
  if find(c, "%u") then return 0.8 end
  if find(c, "[%.,:;'|!ijlI ]") then return 0.36 end
  if find(c, "[%(%)%[%]/\\\"ftr-]") then return 0.48 end
  return 0.68
end

-- The characters of s as the eye sees them: a base character with the
-- marks that combine with it, and what a joiner joins to it (a family
-- emoji is one, never cut apart; as wide as its parts, for a font that
-- draws them side by side), a pair of regional indicators (a flag), and a
-- byte the tree wrote as "\ddd". A mark with no letter before it is drawn
-- on its own: a letter's width. {text, width in ems} each.
local function clusters(s)
  local out, joined, flag = {}, false, false
  for _, cp in utf8.codes(s) do
    local ch, w = utf8.char(cp), em(cp)
    local ri = cp >= 0x1F1E6 and cp <= 0x1F1FF      -- half a flag
    local last, mark = out[#out], combines(cp)
    if last and (joined or (mark and not last[3]) or (ri and flag)
                 or (find(ch, "^%d$") and find(last[1], "^\\%d?%d?$"))) then
      last[1], last[2] = last[1] .. ch, last[2] + w
      flag = false
    else                                 -- (a run of lone marks: one each)
      out[#out + 1] = { ch, max(w, mark and 1 or 0), mark }
      flag = ri
    end
    joined = cp == 0x200D
  end
  return out
end

-- s cut to fit px pixels at font_px (a bold font: bold = true), with "…"
-- in place of what goes: at the end, or in the middle when the end tells
-- lanes apart (a task's "#id", the last part of a long name).
local function fit(s, px, font_px, middle, bold)
  local text = shown(s)                     -- as drawn: "?" for what is obeyed
  local cs, total = clusters(text), 0
  local scale = font_px * (bold and 1.12 or 1)
  for _, c in ipairs(cs) do total = total + c[2] * scale end
  if total <= px then return text end
  local room = px - scale                           -- (the ellipsis)
  local head_room = middle and room / 2 or room
  local head, tail, used, i, j = {}, {}, 0, 1, #cs
  while i <= #cs and used + cs[i][2] * scale <= head_room do
    used = used + cs[i][2] * scale
    head[#head + 1] = cs[i][1]
    i = i + 1
  end
  while middle and j > i and used + cs[j][2] * scale <= room do
    used = used + cs[j][2] * scale
    insert(tail, 1, cs[j][1])
    j = j - 1
  end
  return concat(head) .. "…" .. concat(tail)
end

-- A "nice" step for about n ticks over span (microseconds).
local function tick_step(span, n)
  local raw = span / n
  if not (raw > 0 and raw < HUGE) then return span > 0 and span or 1 end
  local p = 10 ^ floor(log(raw, 10))
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if m * p >= raw then return m * p end
  end
  return 10 * p
end

local function time_label(us)
  if us == 0 then return "0" end
  if us >= 1e6 then return fmt("%gs", us / 1e6) end
  if us >= 1e3 then return fmt("%gms", us / 1e3) end
  return fmt("%gµs", us)
end

-- Pixel columns of one lane: state per column, the last one drawn wins
-- in order wait < run < unwinding (a column is as busy as its busiest).
local RANK = { wait = 1, run = 2, unwinding = 3 }

local function columns(segs, x_of, width)
  local col = {}
  for _, s in ipairs(segs) do
    local a = floor(x_of(s[1]))
    local b = max(a, ceil(x_of(s[2])) - 1)
    for x = max(a, 0), min(b, width - 1) do
      local cur = col[x]
      if not cur or RANK[s[3]] and RANK[s[3]] > (RANK[cur] or 0) then col[x] = s[3] end
    end
  end
  return col
end

-- How much of each column segs spend in each state: occ[state][x], in
-- columns (0..1 each), for shares that a task's one-state columns would
-- overstate (a 1 ns run is not a column of running).
local function occupancy(segs, x_of, width, occ)
  for _, s in ipairs(segs) do
    local row = occ[s[3]]
    if row then
      local xa, xb = x_of(s[1]), x_of(s[2])
      for x = max(floor(xa), 0), min(ceil(xb) - 1, width - 1) do
        local part = min(xb, x + 1) - max(xa, x)
        if part > 0 then row[x] = (row[x] or 0) + part end
      end
    end
  end
  return occ
end

-- Runs of equal columns as rectangles.
local function runs(out, col, width, x0, y, h)
  local x = 0
  while x < width do
    local st = col[x]
    if st and COLOR[st] then
      local e = x
      while e + 1 < width and col[e + 1] == st do e = e + 1 end
      out[#out + 1] = fmt('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"/>',
        x0 + x, y, e - x + 1, h, COLOR[st])
      x = e + 1
    else
      x = x + 1
    end
  end
end

local function mark(out, m, x, y)
  local ts, cat, name, args = m[1], m[2], m[3], m[4] or {}
  if cat == "cancel" then
    local tip = name .. (args.reason and (": " .. args.reason) or "") ..
      (args.origin and (" by " .. args.origin) or "")
    out[#out + 1] = fmt('<path d="M%.1f %.1fl-4 -6h8z" fill="#c62828"><title>%s</title></path>',
      x, y + LANE - 3, esc(tip))
  elseif cat == "cancelled" then
    local tip = name .. (args.reason and (": " .. args.reason) or "") ..
      (args.origin and (" by " .. args.origin) or "")
    out[#out + 1] = fmt('<path d="M%.1f %.1fl-3.5 -5h7z" fill="none" stroke="#c62828"><title>%s</title></path>',
      x, y + LANE - 3, esc(tip))
  elseif cat == "error" then
    out[#out + 1] = fmt('<path d="M%.1f %.1fl6 6m0 -6l-6 6" stroke="#b71c1c" stroke-width="2">' ..
      '<title>%s</title></path>', x - 3, y + 3, esc("error: " .. tostring(args.error)))
  elseif cat == "spawn" then
    out[#out + 1] = fmt('<rect x="%.1f" y="%.1f" width="1.5" height="%d" fill="#555"/>', x, y + 2, LANE - 4)
  elseif cat == "exit" then
    local c = args.status == "failed" and "#b71c1c" or args.status == "cancelled" and "#ef6c00" or "#555"
    out[#out + 1] = fmt('<rect x="%.1f" y="%.1f" width="2" height="%d" fill="%s"><title>%s</title></rect>',
      x - 1, y + 1, LANE - 2, c, esc(name))
  end
  return ts
end

local function lane(out, t, y, x_of, width)
  local first, last = HUGE, -HUGE
  for _, s in ipairs(t.segs) do first, last = min(first, s[1]), max(last, s[2]) end
  for _, m in ipairs(t.marks) do first, last = min(first, m[1]), max(last, m[1]) end
  out[#out + 1] = fmt('<g><title>%s</title>', esc(t.name))
  out[#out + 1] = fmt('<text x="%d" y="%.1f" class="l">%s</text>', LABEL - 6, y + LANE - 3,
    esc(fit(t.name, LABEL - 14, 10, true)))
  if first <= last then                    -- lifetime: a thin line
    out[#out + 1] = fmt('<rect x="%.1f" y="%.1f" width="%.1f" height="1" fill="#bbb"/>',
      LABEL + x_of(first), y + LANE / 2, max(1, x_of(last) - x_of(first)))
  end
  runs(out, columns(t.segs, x_of, width), width, LABEL, y + 2, LANE - 4)
  for _, s in ipairs(t.segs) do            -- what a long wait waits on
    local w = x_of(s[2]) - x_of(s[1])
    if s[3] == "wait" and s[4] and w > 60 then
      out[#out + 1] = fmt('<text x="%.1f" y="%.1f" class="w">%s</text>',
        LABEL + x_of(s[1]) + 3, y + LANE - 4, esc(fit(s[4], w - 6, 8.5)))
    end
  end
  for _, m in ipairs(t.marks) do mark(out, m, LABEL + x_of(m[1]), y) end
  out[#out + 1] = "</g>"
end

-- A collapsed group: one lane, each column shaded by how many of the
-- group's tasks run / wait / unwind there, on average over the column: for
-- running, how much of the column one of them ran (one runs at a time);
-- for the others, full colour once a quarter of them do (one task that
-- waits throughout is drawn, faint); too little to see is not drawn. Errors
-- and cancels are still marked.
local function collapsed(out, g, y, x_of, width)
  local counts = { run = {}, wait = {}, unwinding = {} }
  for _, t in ipairs(g.tasks) do occupancy(t.segs, x_of, width, counts) end
  local n = #g.tasks
  out[#out + 1] = fmt('<g><title>%s: %d tasks, collapsed</title>', esc(g.name), n)
  out[#out + 1] = fmt('<text x="%d" y="%.1f" class="l">%d tasks (collapsed)</text>',
    LABEL - 6, y + CLANE / 2 + 3, n)
  local rows = { "run", "wait", "unwinding" }
  for r, st in ipairs(rows) do
    for x = 0, width - 1 do
      local c = counts[st][x] or 0
      local share = min(1, c / (st == "run" and 1 or max(1, n / 4)))
      -- (drawn: a fiftieth of the column running, or half a task's worth
      -- of waiting or unwinding: one task that holds the group is seen)
      if c >= (st == "run" and 0.02 or 0.5) then
        out[#out + 1] = fmt('<rect x="%d" y="%.1f" width="1" height="%.1f" fill="%s" fill-opacity="%.2f"/>',
          LABEL + x, y + 1 + (r - 1) * (CLANE - 2) / 3, (CLANE - 2) / 3 - 1, COLOR[st],
          0.2 + 0.8 * share)
      end
    end
  end
  for _, t in ipairs(g.tasks) do
    for _, m in ipairs(t.marks) do
      if m[2] == "error" or m[2] == "cancel" or m[2] == "cancelled" then
        mark(out, m, LABEL + x_of(m[1]), y + CLANE - LANE)
      end
    end
  end
  out[#out + 1] = "</g>"
end

-- A tick's label: `us` in the unit of `top` (the largest label), with as
-- many decimals as `step` needs, so that ticks far into a run differ.
local function tick_label(us, step, top)
  if us == 0 then return "0" end
  local scale, unit = 1, "µs"
  if top >= 1e6 then scale, unit = 1e6, "s" elseif top >= 1e3 then scale, unit = 1e3, "ms" end
  local decimals = max(0, ceil(-log(step / scale, 10) - 1e-9))
  return fmt("%." .. min(decimals, 12) .. "f%s", us / scale, unit)
end

-- Ticks over [t0, t1], labelled with the time since origin (the run's
-- start; later than it when older events were dropped).
local function axis(out, t0, t1, width, height, origin)
  local span = t1 - t0
  local step = tick_step(span, 10)
  out[#out + 1] = fmt('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>',
    LABEL, TOP - 4, LABEL + width, TOP - 4)
  -- (a tick a hair before t0, as 0 is before a run's first event, is drawn
  -- at t0)
  local k = ceil((t0 - origin) / step - 1e-3)
  local ticks = 0
  while k * step <= t1 - origin + 1e-9 and ticks < 100 do
    local x = LABEL + max(0, (origin + k * step - t0) / span * width)
    out[#out + 1] = fmt('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>',
      x, TOP - 4, x, height - 30)
    out[#out + 1] = fmt('<text x="%.1f" y="%d" class="t">%s</text>', x, TOP - 8,
      tick_label(k * step, step, t1 - origin))
    k, ticks = k + 1, ticks + 1
  end
end

local function legend(out, y)
  local items = { { COLOR.run, "running" }, { COLOR.wait, "waiting" },
    { COLOR.unwinding, "unwinding after a cancel" } }
  local x = LABEL
  for _, it in ipairs(items) do
    out[#out + 1] = fmt('<rect x="%d" y="%d" width="12" height="10" fill="%s"/>', x, y, it[1])
    out[#out + 1] = fmt('<text x="%d" y="%d" class="g">%s</text>', x + 16, y + 9, it[2])
    x = x + 40 + #it[2] * 6
  end
  out[#out + 1] = fmt('<path d="M%d %dl-4 -6h8z" fill="#c62828"/><text x="%d" y="%d" class="g">cancel</text>',
    x + 4, y + 10, x + 12, y + 9)
  x = x + 60
  out[#out + 1] = fmt('<path d="M%d %dl-3.5 -5h7z" fill="none" stroke="#c62828"/><text x="%d" y="%d" class="g">cancelled</text>',
    x + 4, y + 10, x + 12, y + 9)
  x = x + 75
  out[#out + 1] = fmt('<path d="M%d %dl6 6m0 -6l-6 6" stroke="#b71c1c" stroke-width="2"/>' ..
    '<text x="%d" y="%d" class="g">error</text>', x, y + 2, x + 12, y + 9)
end

-- opts' keys and values (argument #2 of render), or the complaint.
local function bad_option(opts)
  for k in next, opts do                -- raw: a __pairs shows nothing else
    if k ~= "max_lanes" and k ~= "width" and k ~= "title" then
      local shown = gsub(tostring(k), "[%c\127]", function(c) return fmt("\\%03d", byte(c)) end)
      return fmt("unknown option '%s'", shown)        -- (a NUL shows)
    end
  end
  -- (an integral float is taken, as corral's own options take it)
  local w, m = tointeger(opts.width), tointeger(opts.max_lanes)
  if opts.width ~= nil and not (w and w >= 400 and w <= 100000) then
    return "width must be an integer in 400..100000"
  elseif opts.max_lanes ~= nil and not (m and m >= 1) then
    return "max_lanes must be an integer >= 1"
  elseif opts.title ~= nil and type(opts.title) ~= "string" then
    return "title must be a string"
  end
end

function M.render(json, opts)
  opts = opts or {}
  local bad = type(opts) ~= "table" and "table expected, got " .. type(opts) or bad_option(opts)
  if bad then error(fmt("bad argument #2 to 'render' (%s)", bad), 2) end
  if type(json) ~= "string" and type(json) ~= "table" then
    error(fmt("bad argument #1 to 'render' (trace text expected, got %s)", type(json)), 2)
  end
  local trace = type(json) == "string" and decode(json) or json
  local groups, t0, t1 = model(trace)
  local max_lanes = tointeger(opts.max_lanes) or 24
  local width = (tointeger(opts.width) or W) - LABEL - 20
  local function x_of(ts) return (ts - t0) / (t1 - t0) * width end
  local body, y = {}, TOP
  for _, g in ipairs(groups) do
    body[#body + 1] = fmt('<text x="8" y="%d" class="h">%s</text>', y + HEAD - 5,
      esc(fit(g.name, LABEL + width - 8, 11, false, true)))
    body[#body + 1] = fmt('<line x1="8" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>',
      y + HEAD - 1, LABEL + width, y + HEAD - 1)
    y = y + HEAD
    if #g.tasks > max_lanes then
      collapsed(body, g, y, x_of, width)
      y = y + CLANE
    else
      for _, t in ipairs(g.tasks) do lane(body, t, y, x_of, width); y = y + LANE end
    end
  end
  local height = y + 40
  local out = {
    fmt('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" ' ..
      'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">', LABEL + width + 20, height,
      LABEL + width + 20, height),
    '<style>.l{font-size:10px;text-anchor:end;fill:#222}.h{font-size:11px;font-weight:bold;fill:#333}' ..
      '.t{font-size:10px;text-anchor:middle;fill:#444}.g{font-size:10px;fill:#333}' ..
      '.w{font-size:8.5px;fill:#0d3c61}</style>',
    fmt('<rect width="100%%" height="100%%" fill="#fff"/>'),
  }
  local other = type(trace.otherData) == "table" and trace.otherData or {}
  local dropped = tointeger(other.dropped_events) or 0
  -- the title, cut to leave room for the note of dropped events beside it
  out[#out + 1] = fmt('<text x="8" y="16" class="h">%s</text>', esc(fit(opts.title or
    "corral trace", (dropped > 0 and LABEL or LABEL + width) - 16, 11, true, true)))
  -- (a start so far before t0 that tick numbers would lose their units is
  -- not one a run wrote: the picture then counts from t0)
  local known = type(other.start_ts) == "number" and other.start_ts <= t0 and
    (t0 - other.start_ts) / tick_step(t1 - t0, 10) < 2 ^ 40
  local origin = known and other.start_ts or t0
  if dropped > 0 then
    out[#out + 1] = fmt('<text x="%d" y="16" class="g">%d older events dropped ' ..
      '(trace_limit %s)%s</text>', LABEL, dropped, tointeger(other.trace_limit) or "?",
      known and (": the picture starts " .. time_label(t0 - origin) .. " into the run") or "")
  end
  axis(out, t0, t1, width, height, origin)
  for _, s in ipairs(body) do out[#out + 1] = s end
  legend(out, height - 22)
  out[#out + 1] = "</svg>\n"
  return concat(out, "\n")
end

-- corral trace-svg FILE: the command's entry point; returns an exit status.
local function usage(progname, out)
  out:write("usage: ", progname, " trace-svg trace.json > trace.svg\n",
            "       (trace.json: a file written by --trace or run{trace = ...};\n",
            "        - reads it from stdin)\n")
end

-- The trace's text, from the file at path or, for "-", from stdin.
local function slurp(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text, rerr = f:read("a")         -- nil for a directory
  f:close()
  if text == nil then return nil, path .. ": " .. tostring(rerr) end
  return text
end

function M.main(args, progname)
  progname = progname or "corral"
  local path = args[1]
  if (path == "-h" or path == "--help") and not args[2] then
    usage(progname, io.stdout)
    return 0
  end
  -- (an option it does not know is a usage error, not a file name)
  if not path or args[2] or (match(path, "^%-.") and path ~= "-") then
    -- what was wrong first, as the command's own usage errors say it
    local why = not path and "no trace file given"
      or match(path, "^%-.") and path ~= "-" and fmt("unrecognized option '%s'", path)
      or fmt("one trace file at a time ('%s' is one too many)", args[2])
    io.stderr:write(progname, ": trace-svg: ", why, "\n")
    usage(progname, io.stderr)
    return 2
  end
  local text, err = slurp(path)
  if not text then
    io.stderr:write(progname, ": trace-svg: ", err, "\n")
    return 1
  end
  local ok, svg = pcall(M.render, text, { title = "corral trace: " ..
                                                  (path == "-" and "stdin" or path) })
  if not ok then
    local msg = tostring(svg)
    if not find(msg, "^trace%-svg: ") then msg = "trace-svg: " .. msg end
    io.stderr:write(progname, ": ", msg, "\n")
    return 1
  end
  local done, werr = io.stdout:write(svg)
  if done then done, werr = io.stdout:flush() end
  if not done then                       -- a full disk, a closed stdout
    io.stderr:write(progname, ": trace-svg: cannot write the SVG: ", tostring(werr), "\n")
    return 1
  end
  return 0
end

return M
