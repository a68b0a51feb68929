-- Found by the second hostile pass.
--
-- §8: the trace's memory is bounded by `trace_limit` events. start_trace
-- (bindings/ltrace.c) allocates `limit * sizeof(trace_rec)` bytes without an
-- overflow check: trace_limit = 2^61 times the 56-byte record wraps to 0,
-- malloc(0) succeeds, and the first event is written past the end of a
-- zero-byte ring (heap-buffer-overflow; a segfault in the plain build).
-- A limit whose ring cannot be allocated must raise (as 2^40 already does:
-- "not enough memory for trace_limit"), or be capped, never overflow.
local corral = require "corral"

describe("regression: a huge trace_limit", function()
  for _, limit in ipairs({ 1 << 61, 1 << 62, (1 << 61) + 1, math.maxinteger }) do
    it(("trace_limit = %d raises or works, never overflows the ring"):format(limit), function()
      local path = os.tmpname()
      local ok, err = pcall(corral.run, function()
        for _ = 1, 10 do corral.checkpoint() end
      end, { trace = path, trace_limit = limit })
      os.remove(path)
      if not ok then assert.matches("trace_limit", tostring(err), 1, true) end
    end)
  end
end)
