-- corral/retry.lua: call a function again after it fails, with backoff.
--
--   local retry = require "corral.retry"
--   local body = retry(function() return http_get(url) end, {attempts = 5, timeout = 30})
--
-- retry(fn [, opts]) calls fn(attempt) until it returns, and returns its results.
-- opts (see docs/policies.md):
--   attempts  (3; math.huge allowed)   delay (0.1)   factor (2)   max_delay (10)
--   jitter    (0..1, default 0)        random (a function giving [0, 1))
--   timeout   total budget in seconds  retry_if(err, attempt)  on_retry(err, attempt, wait)
-- The k-th wait is w = min(delay * factor^(k-1), max_delay), jittered to
-- w*(1-jitter) + w*jitter*random(). A Cancelled is never retried. When attempts run
-- out, or retry_if says no, the last error is raised unchanged. When the timeout
-- budget ends during an attempt, the attempt is cancelled and retry raises a
-- Timeout (corral.is_timeout), whose `last_error` holds the latest error an
-- attempt raised, if any; when the next wait would reach the end of the budget,
-- the last error is raised at once, and so is it when the budget ends between
-- two attempts (in retry_if, random or on_retry). Cancelled from outside, retry
-- raises the attempt's error as it is, without a retry (nor retry_if or on_retry).

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local error, pcall, rawequal, require, tostring, type =
  error, pcall, rawequal, require, tostring, type
local format = string.format
local pack, unpack = table.pack, table.unpack
local HUGE, random = math.huge, math.random
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local is = util.is
local OPTIONS = {
  attempts = is.integer_ge(1, true),
  delay = is.number_ge(0),
  factor = is.number_ge(0),
  max_delay = is.number_ge(0),
  jitter = is.fraction,
  timeout = is.number_ge(0),
  retry_if = is.type("function"),
  on_retry = is.type("function"),
  random = is.type("function"),
}
local DEFAULTS = {
  attempts = 3, delay = 0.1, factor = 2, max_delay = 10, jitter = 0, random = random,
}

-- The wait after the k-th failed attempt.
local function wait_after(o, k)
  -- delay 0 stays 0 whatever the factor; an overflowing (inf) or undefined
  -- (0 * inf) product is capped at max_delay
  local w = 0
  if o.delay > 0 then
    w = o.delay * o.factor ^ (k - 1)
    if not (w <= o.max_delay) then w = o.max_delay end
  end
  if o.jitter == 0 then return w end
  local r = o.random()
  if type(r) ~= "number" or not (r >= 0 and r < 1) then
    -- (a value that is no number by its type: "0.5" is a string, and a
    -- __tostring could raise or a string run long)
    local got = type(r) == "number" and tostring(r) or corral._typename(r)
    error(format("retry: opts.random must return a number in [0, 1), got %s", got), 0)
  end
  local j = w * (1 - o.jitter) + w * o.jitter * r
  if j ~= j then return w end          -- w = inf: inf * 0 is NaN; forever stays
  return j
end

-- Raise the last error `err` at once if a wait of w seconds from now would
-- reach the end of the budget (`deadline`, math.huge for none).
local function check_budget(err, w, deadline)
  if deadline < HUGE and corral.now() + w >= deadline then
    error(err, 0)                          -- no budget left for the wait
  end
end

-- The attempts, under a budget ending at `deadline` (math.huge for none).
-- `state.last` keeps the latest failure, for the Timeout; `state.attempt` is
-- true while an attempt runs (or has just failed), so that retry tells a
-- budget that cut an attempt (a Timeout) from one that ended between two.
local function attempts(fn, o, deadline, state)
  local attempt = 0
  while true do
    attempt = attempt + 1
    state.attempt = true
    local r = util.outcome(fn, attempt)
    if r.ok then return unpack(r, 1, r.n) end
    local err = r.err
    state.last = err
    if corral.now() >= deadline then       -- raises: the budget is spent
      state.spent = true                    -- (or an outer scope's too: retry)
      corral.checkpoint()
      state.spent = nil
    end
    state.attempt = false
    -- Cancelled from outside: no retry can follow, so neither retry_if nor
    -- on_retry hears of one; the attempt's error (it turned its Cancelled
    -- into that error) goes on, and the Cancelled at the next checkpoint. (The
    -- check does not give up the CPU: a cancel that comes later is not one
    -- this error was raised under.)
    if util.cancelled_now() then error(err, 0) end
    if attempt >= o.attempts or (o.retry_if and not o.retry_if(err, attempt)) then
      error(err, 0)
    end
    local w = wait_after(o, attempt)
    check_budget(err, w, deadline)
    if o.on_retry then
      o.on_retry(err, attempt, w)
      check_budget(err, w, deadline)       -- it took the time the wait needed
    end
    corral.sleep(w)
  end
end

local function retry(fn, opts, ...)
  util.no_more_args("retry", 3, ...)
  if type(fn) ~= "function" then
    util.arg_error(1, "retry", corral._function_expected(fn), 2)
  end
  local o = util.options("retry", 2, opts, OPTIONS, DEFAULTS)
  util.need_run("retry")
  local state = {}
  if not o.timeout then return attempts(fn, o, HUGE, state) end
  local deadline = corral.now() + o.timeout
  local r = pack(pcall(corral.fail_at, deadline, attempts, fn, o, deadline, state))
  if r[1] then return unpack(r, 2, r.n) end
  local err = r[2]
  -- The budget ended together with a cancel from outside, whose scope took
  -- the Cancelled: as for any cancel from outside, the attempt's error goes
  -- on as it is, and the Cancelled comes back at the next cancellation point.
  if state.spent and corral.is_cancelled(err) then error(state.last, 0) end
  -- The budget's own Timeout gets the budget and the last error; an
  -- attempt's Timeout (its own fail_after, a nested retry) raised as the
  -- last error goes out unchanged, and so does a hook's own, raised before
  -- the budget ended.
  if corral.is_timeout(err) and not rawequal(err, state.last) and corral.now() >= deadline then
    -- it ended between two attempts (in retry_if, random, on_retry or the
    -- wait they delayed): no attempt was cut, so the last error it is
    if not state.attempt then error(state.last, 0) end
    err.seconds, err.last_error = o.timeout, state.last
  end
  error(err, 0)
end

return retry
