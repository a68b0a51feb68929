-- testing.stream_pair kept each direction's unread bytes in one string: a
-- write appended to it (copying it), a read cut its head off (copying the
-- rest), and read_line's wait searched it from the start for "\n" on every
-- wake-up. Moving N bytes through a full buffer so cost O(N^2): 400 KB read
-- byte by byte with max_chunk = 1 took 12 s. The buffer is now a queue of
-- the written strings, and the search resumes where it stopped.
--
-- Specs never time things. What they can count, deterministically, is the
-- work done: the bytes allocated (with the collector stopped, the heap only
-- grows) and the bytes string.find looked at. Linear work doubles when N
-- does; the quadratic work this replaced quadrupled.
local corral = require "corral"
local testing = require "corral.testing"

-- fn() -> bytes allocated and bytes string.find examined while it ran (up
-- to the match, or to the end of the subject when there is none).
local function meter(fn)
  local find, scanned = string.find, 0
  string.find = function(s, pat, init, plain)
    local i = find(s, pat, init, plain)
    scanned = scanned + (i or #s + 1) - (init or 1) + 1
    return i
  end
  collectgarbage("collect")
  collectgarbage("stop")
  local before = collectgarbage("count")
  local ok, err = pcall(fn)
  local allocated = (collectgarbage("count") - before) * 1024
  collectgarbage("restart")
  string.find = find
  if not ok then error(err, 0) end
  return allocated, scanned
end

-- How N bytes move: { name, fn(N) -> what meter measured }.
local PATTERNS = {
  { "one write read back byte by byte (max_chunk = 1)", function(N)
    local a, b = testing.stream_pair({ max_chunk = 1 })
    local _ <close> = a
    local _ <close> = b
    return meter(function()
      a:write(string.rep("x", N)); a:shutdown()
      for _ = 1, N do assert(#b:read() == 1) end
      assert(b:read() == nil)
    end)
  end },
  { "N one-byte writes buffered, then read", function(N)
    local a, b = testing.stream_pair({ buffer = N + 1 })
    local _ <close> = a
    local _ <close> = b
    return meter(function()
      for _ = 1, N do a:write("x") end
      a:shutdown()
      local n = 0
      for data in function() return b:read() end do n = n + #data end
      assert(n == N)
    end)
  end },
  { "one write of many lines read with lines()", function(N)
    local a, b = testing.stream_pair()
    local _ <close> = a
    local _ <close> = b
    return meter(function()
      a:write(string.rep("abcdefghi\n", N // 10)); a:shutdown()
      local n = 0
      for line in b:lines() do assert(line == "abcdefghi"); n = n + 1 end
      assert(n == N // 10)
    end)
  end },
  { "one long line arriving in 16-byte writes, one read_line", function(N)
    local a, b = testing.stream_pair({ buffer = N + 100 })
    local _ <close> = a
    local _ <close> = b
    return meter(function()
      corral.group(function(g)
        g:spawn(function()
          for _ = 1, N // 16 do a:write(string.rep("x", 16)); corral.checkpoint() end
          a:write("\n")
        end)
        assert(#b:read_line(N) == N // 16 * 16)
      end)
    end)
  end },
}

describe("regression: stream_pair's work grows linearly with the bytes buffered", function()
  for _, case in ipairs(PATTERNS) do
    local name, pattern = case[1], case[2]
    it(name, testing.async(function()
      local N = 4000
      local alloc1, scan1 = pattern(N)
      local alloc2, scan2 = pattern(2 * N)
      -- (quadratic: about 4x; linear: 2x, less what does not depend on N)
      assert.is_true(alloc2 <= 3 * alloc1,
        ("allocated %d bytes for %d, %d for %d"):format(alloc1, N, alloc2, 2 * N))
      assert.is_true(scan2 <= 3 * scan1,
        ("searched %d bytes for %d, %d for %d"):format(scan1, N, scan2, 2 * N))
      if name:find("line") then
        -- the meter sees the search (else it would pass whatever it cost)
        assert.is_true(scan1 > 0)
        assert.is_true(scan2 <= 3 * 2 * N)   -- each byte searched about once
      end
    end))
  end
end)

--------------------------------------------------------------------------------
-- The queue must read exactly as the one string did: random writes and
-- reads, checked against a model that keeps the unread bytes in a string.

local ALPHABET = { "a", "b", "\r", "\n" }

local function random_data()
  local t = {}
  for i = 1, math.random(0, 12) do t[i] = ALPHABET[math.random(#ALPHABET)] end
  return table.concat(t)
end

-- read_line(max) as corral's line reader does it on `rest`, the unread
-- bytes, when it does not block: line or nil, error partial, bytes taken.
local function model_line(rest, max)
  local nl = rest:find("\n", 1, true)
  local taken = math.min(nl or math.huge, max + 2)
  local chunk = rest:sub(1, taken)
  if chunk:sub(-1) ~= "\n" then return nil, chunk, taken end
  local line = chunk:sub(1, chunk:sub(-2) == "\r\n" and -3 or -2)
  if #line > max then return nil, chunk, taken end
  return line, nil, taken
end

-- One random step on the pair (a writes, b reads); returns the new `rest`
-- and whether read_line must first skip the rest of an over-long line (as
-- it does after EMSGSIZE, until a read or read_exactly takes bytes).
-- `at` ("seed s, step i") names it in a failure, to replay it.
local function step(a, b, rest, skip, max_chunk, at)
  local op, max = math.random(5), math.random(1, 8)
  if op == 1 or rest == "" then
    local data = random_data()
    a:write(data)
    return rest .. data, skip
  elseif op == 2 then
    assert.equal(rest:sub(1, math.min(max, max_chunk)), b:read(max), at)
    return rest:sub(math.min(max, max_chunk, #rest) + 1), false
  elseif op == 3 then
    local n = math.random(1, #rest)
    assert.equal(rest:sub(1, n), b:read_exactly(n), at)
    return rest:sub(n + 1), false
  end
  if skip then                  -- drops through the line's "\n", or all
    local nl = rest:find("\n", 1, true)
    if not nl then
      assert.is_false(corral.move_on_after(1, b.read_line, b, max), at)
      return "", true
    end
    rest = rest:sub(nl + 1)
  end
  if not rest:find("\n", 1, true) and #rest < max + 2 then
    -- it would wait: cancelled, it must take nothing (more)
    assert.is_false(corral.move_on_after(1, b.read_line, b, max), at)
    return rest, false
  end
  local line, partial, taken = model_line(rest, max)
  local ok, got = pcall(b.read_line, b, max)
  if line then
    assert.same({ true, line }, { ok, got }, at)
  else
    assert.same({ false, "EMSGSIZE", partial }, { ok, got.code, got.partial }, at)
  end
  return rest:sub(taken + 1), not line and partial:sub(-1) ~= "\n"
end

describe("regression: stream_pair's queue of chunks", function()
  it("reads what one string of the unread bytes would give", function()
    for seed = 1, 40 do
      math.randomseed(seed)
      local max_chunk = ({ 1, 3, math.huge })[seed % 3 + 1]
      testing.run(function()
        local a, b = testing.stream_pair(max_chunk < math.huge and { max_chunk = max_chunk } or nil)
        local _ <close> = a
        local _ <close> = b
        local rest, skip = "", false
        for i = 1, 300 do
          rest, skip = step(a, b, rest, skip, max_chunk, ("seed %d, step %d"):format(seed, i))
        end
        a:shutdown()
        local tail = {}
        for data in function() return b:read() end do tail[#tail + 1] = data end
        assert.equal(rest, table.concat(tail), "seed " .. seed)
      end)
    end
  end)
end)
