-- Ports of Trio's tests of MockClock (trio/_core/_tests/test_mock_clock.py),
-- wait_all_tasks_blocked (test_testing.py, test_run.py) and memory streams
-- (test_testing.py) to corral.testing: autojump_threshold plays MockClock's
-- autojump_threshold (there is no rate and no jump()), and stream_pair's
-- buffer and max_chunk play memory_stream_pair's pumping.
local corral = require "corral"
local testing = require "corral.testing"

-- Real seconds (os.clock is CPU time, which a blocked run does not use).
local function realnow()
  local p = assert(io.popen("date +%s.%N"))
  local s = p:read("l")
  p:close()
  return tonumber(s)
end

describe("trio test_mock_clock port", function()
  it("autojump 0: sleeps of 10*i take no real time and land exactly", function()
    local t0 = os.clock()
    testing.run(function()
      local vs = corral.now()
      for i = 0, 9 do
        corral.sleep(10 * i)
        assert.equal(vs + 10 * i, corral.now())
        vs = corral.now()
      end
      assert.equal(450, corral.now())
    end)
    assert.is_true(os.clock() - t0 < 1)
  end)

  it("autojump threshold: wait_all_tasks_blocked returns before the clock moves", function()
    testing.run(function()
      local t = corral.now()
      testing.wait_all_tasks_blocked()
      assert.equal(t, corral.now())
      corral.sleep(100000)
      assert.equal(t + 100000, corral.now())
    end, { autojump_threshold = 0.02 })
  end)

  it("autojump preset: a long sleep with threshold 0.01 takes little real time", function()
    local r0 = realnow()
    testing.run(function() corral.sleep(10000) end, { autojump_threshold = 0.01 })
    local dt = realnow() - r0
    assert.is_true(dt < 1, "took " .. dt)
    assert.is_true(dt >= 0.01, "took " .. dt)
  end)

  it("autojump 0 and wait_all_tasks_blocked", function()
    local record = {}
    testing.run(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(100); record[#record+1] = "yawn" end)
        g:spawn(function()
          testing.wait_all_tasks_blocked()
          record[#record+1] = "waiter woke"
          corral.sleep(1000)
          record[#record+1] = "waiter done"
        end)
      end)
    end)
    assert.same({ "waiter woke", "yawn", "waiter done" }, record)
  end)

  it("autojump threshold is in real seconds", function()
    local r0 = realnow()
    testing.run(function()
      corral.sleep(5); corral.sleep(5); corral.sleep(5)
      assert.equal(15, corral.now())
    end, { autojump_threshold = 0.2 })
    local dt = realnow() - r0
    assert.is_true(dt >= 0.55 and dt < 3, "took " .. dt)
  end)
end)

describe("trio test_testing port: wait_all_tasks_blocked", function()
  it("waits for the busy bee", function()
    local record = {}
    testing.run(function()
      corral.group(function(g)
        g:spawn(function()
          for _ = 1, 10 do corral.checkpoint() end
          record[#record+1] = "busy bee exhausted"
        end)
        for _ = 1, 2 do
          g:spawn(function()
            testing.wait_all_tasks_blocked()
            record[#record+1] = "quiet at last!"
          end)
        end
      end)
    end)
    assert.same({ "busy bee exhausted", "quiet at last!", "quiet at last!" }, record)
  end)

  it("is cancellable", function()
    local record = {}
    testing.run(function()
      corral.group(function(g)
        g:spawn(function()
          local ok, e = pcall(testing.wait_all_tasks_blocked)
          if not ok and corral.is_cancelled(e) then record[#record+1] = "ok" end
          if not ok then error(e, 0) end
        end)
        g:cancel()
      end)
    end)
    assert.same({ "ok" }, record)
  end)

  it("cancelled while parked", function()
    local record = {}
    testing.run(function()
      corral.group(function(g)
        local t = g:spawn(function()
          local ok, e = pcall(testing.wait_all_tasks_blocked)
          record[#record+1] = ok and "returned" or (corral.is_cancelled(e) and "cancelled" or tostring(e))
          if not ok then error(e, 0) end
        end)
        g:spawn(function()
          for _ = 1, 5 do corral.checkpoint() end
          t:cancel()
        end)
      end)
    end)
    assert.same({ "cancelled" }, record)
  end)

  it("with timeouts: sleep not woken until clock moves", function()
    local record = {}
    testing.run(function()
      corral.group(function(g)
        g:spawn(function()
          record[#record+1] = "tt start"
          corral.sleep(5)
          record[#record+1] = "tt finished"
        end)
        testing.wait_all_tasks_blocked()
        assert.same({ "tt start" }, record)
        assert.equal(0, corral.now())
        corral.sleep(10)
        testing.wait_all_tasks_blocked()
        assert.same({ "tt start", "tt finished" }, record)
      end)
    end)
  end)

  it("wait_all_tasks_blocked with a channel ping pong", function()
    testing.run(function()
      local ch = corral.channel(0)
      local got
      corral.group(function(g)
        g:spawn(function() got = ch:recv() end)
        testing.wait_all_tasks_blocked()
        assert.is_nil(got)
        ch:send(5)
        testing.wait_all_tasks_blocked()
        assert.equal(5, got)
      end)
    end)
  end)

  it("all callers wait -> all wake (none left as deadlock)", function()
    testing.run(function()
      local n = 0
      corral.group(function(g)
        for _ = 1, 5 do g:spawn(function() testing.wait_all_tasks_blocked(); n = n + 1 end) end
        testing.wait_all_tasks_blocked()
      end)
      assert.equal(5, n)
    end)
  end)

  it("under real I/O activity waits for process", function()
    testing.run(function()
      local p <close> = corral.exec("/bin/sh", { "-c", "sleep 0.2; echo hi" })
      local line
      corral.group(function(g)
        g:spawn(function() line = p.stdout:read_line() end)
        testing.wait_all_tasks_blocked()
        -- the reader is blocked on real I/O, which counts as blocked
        assert.is_nil(line)
        g:cancel()
      end)
    end)
  end)
end)

describe("trio memory stream ports", function()
  it("memory_stream_pump-like: one direction, all data arrives", function()
    testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 3 })
      local _ <close> = a; local _ <close> = b
      corral.group(function(g)
        g:spawn(function()
          for i = 1, 100 do a:write(("x"):rep(i)) end
          a:shutdown()
        end)
        local total = 0
        while true do
          local d = b:read()
          if not d then break end
          assert.is_true(#d >= 1 and #d <= 3)
          total = total + #d
        end
        assert.equal(5050, total)
      end)
    end)
  end)

  it("read(max) with max_chunk: min of the two", function()
    testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 5 })
      local _ <close> = a; local _ <close> = b
      a:write("0123456789")
      assert.equal("01", b:read(2))
      assert.equal("23456", b:read(100))
      assert.equal("789", b:read())
    end)
  end)

  it("close while writer waits for room: the writer gets an error", function()
    testing.run(function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = a
      local err
      corral.group(function(g)
        g:spawn(function()
          a:write("0123456789")
          local ok, e = pcall(a.write, a, "0123456789")
          err = e
        end)
        testing.wait_all_tasks_blocked()
        b:close()
      end)
      assert.is_truthy(err)
      assert.is_true(corral.is_io_error(err), tostring(err))
    end)
  end)

  it("close of own end while writer waits", function()
    testing.run(function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = b
      local err
      corral.group(function(g)
        g:spawn(function()
          a:write("0123456789")
          local ok, e = pcall(a.write, a, "0123456789")
          err = e
        end)
        testing.wait_all_tasks_blocked()
        a:close()
      end)
      assert.is_truthy(err)
    end)
  end)

  it("max_chunk validation", function()
    for _, v in ipairs({ 0, -1, 1.5, "x", math.huge }) do
      local ok, e = pcall(testing.stream_pair, { max_chunk = v })
      assert.is_false(ok, tostring(v))
    end
  end)

  it("read with max 0 or negative is refused", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a; local _ <close> = b
      a:write("abc")
      assert.has_error(function() b:read(0) end)
      assert.has_error(function() b:read(-1) end)
      assert.equal("abc", b:read())
    end)
  end)

  it("write of empty string", function()
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = a; local _ <close> = b
      a:write("")
      a:write("z")
      assert.equal("z", b:read())
    end)
  end)
end)
