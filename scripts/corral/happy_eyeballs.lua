-- corral/happy_eyeballs.lua: connect to a host over whichever address answers
-- first (RFC 8305, "Happy Eyeballs").
--
--   local happy_eyeballs = require "corral.happy_eyeballs"
--   local stream <close> = happy_eyeballs.connect("example.com", 443)
--
-- connect(host, port [, opts]) resolves host, orders the addresses by interleaving
-- the address families (starting with the family of the first address returned),
-- and starts one connection attempt; the next starts `delay` seconds later, or at
-- once when the latest attempt fails. The first attempt to connect wins; the
-- others are cancelled, and a connection that completes after the winner is
-- closed. When every attempt fails, connect raises an ErrorGroup: eg.errors[i]
-- the raw error and eg.tasks[i] the address, in order of failure. opts:
--   delay       seconds between attempt starts (default 0.25)
--   resolve     function(host) -> list of {address =, family =}
--               (default corral.resolve)
--   connect     function(address, port) -> stream (default corral.tcp.connect)

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local error, ipairs, next, pcall, require, setmetatable, type =
  error, ipairs, next, pcall, require, setmetatable, type
local format = string.format
local insert = table.insert
local tointeger = math.tointeger
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local M = {}

local OPTIONS = {
  delay = util.is.number_ge(0),
  resolve = util.is.type("function"),
  connect = util.is.type("function"),
}

-- The addresses in RFC 8305 order: families alternate, starting with the family
-- of the first address; within a family the resolver's order is kept. Returns
-- the tables and, beside them, their address strings as they were checked (a
-- table changed later, or an __index asked again, cannot put something else
-- in their place). Or nil and what is wrong with an address.
local function rfc_order(addrs)
  local families, by_family, n = {}, {}, 0
  local complaint = util.list_complaint(addrs, "addresses")  -- a hole, a key
  if complaint then return nil, complaint end
  for i, a in ipairs(addrs) do
    local address = type(a) == "table" and a.address
    if type(address) ~= "string" then
      return nil, format("address #%d is not a table with an address string, got %s",
        i, type(a) == "table" and "address = " .. type(address) or type(a))
    end
    local f = a.family or "?"
    if f ~= f then                          -- (not a table key)
      return nil, format("address #%d has a family that is NaN", i)
    end
    if not by_family[f] then
      by_family[f] = {}
      families[#families + 1] = f
    end
    insert(by_family[f], { a, address })
    n = n + 1
  end
  local out, strings, round = {}, {}, 1
  while #out < n do
    for _, f in ipairs(families) do
      local a = by_family[f][round]
      if a then
        strings[#out + 1] = a[2]
        out[#out + 1] = a[1]
      end
    end
    round = round + 1
  end
  return out, strings
end

function M.interleave(addrs)
  if type(addrs) ~= "table" then
    util.arg_error(1, "happy_eyeballs.interleave", "table expected, got " .. corral._typename(addrs), 2)
  end
  local out, complaint = rfc_order(addrs)
  if not out then util.arg_error(1, "happy_eyeballs.interleave", complaint, 2) end
  return out
end

-- (a connect hook's late junk, a number, is dropped as quietly as a stream)
local function close_stream(stream)
  local close = stream.close
  if type(close) == "function" then close(stream) end
end

local function close_quietly(stream)
  if stream then pcall(close_stream, stream) end
end

-- Run the staggered attempts to the addresses (strings) in `order`; return
-- the winning stream, or nil, the failures and how many attempts began. Every
-- attempt has ended when this returns.
local function attempt_all(order, port, o)
  local winner, failures, began = nil, util.failures(), 0
  local _ <close> = setmetatable({}, { __close = function(_, err)
    if err ~= nil then close_quietly(winner) end      -- raising: nobody gets it
  end })
  util.group_keeping(failures, function(g)
    for _, address in ipairs(order) do
      local failed = corral.event()
      began = began + 1
      g:spawn({ function()
        -- (an attempt that cancelled its own task: its stream goes, unused)
        local r = util.branch_outcome_with(close_quietly, o.connect, address, port)
        if r.ok and not r[1] then         -- no stream (nil, false): not a winner
          r = { ok = false, err = "happy_eyeballs.connect: connect returned no stream",
                traceback = "" }
        end
        if not r.ok then
          if not winner then util.add_branch_failure(failures, r.err, address, r.traceback) end
          return failed:set()
        end
        if winner then return close_quietly(r[1]) end
        winner = r[1]
        util.drop_failures(failures)      -- the earlier attempts' failures are dropped
        g:cancel("happy_eyeballs: connected to " .. address)
      end, name = address })
      corral.move_on_after(o.delay, failed.wait, failed)
    end
  end, { name = "happy_eyeballs" })
  util.raise_kept(failures)       -- failed while cancelled: raised, winner closed
  util.check_cancel()             -- cancelled from outside: the same
  return winner, failures, began
end

function M.connect(host, port, opts, ...)
  util.no_more_args("happy_eyeballs.connect", 4, ...)
  corral._check_host(host, "happy_eyeballs.connect", 2)
  port = tointeger(port)       -- 80.0 and "80" too, as tcp.connect reads it
  if not port or port < 0 or port > 65535 then
    util.arg_error(2, "happy_eyeballs.connect", "port must be an integer in 0..65535", 2)
  end
  local o = util.options("happy_eyeballs.connect", 3, opts, OPTIONS,
    { delay = 0.25, resolve = corral.resolve, connect = corral.tcp.connect })
  util.need_run("happy_eyeballs.connect")
  local addrs = o.resolve(host)
  if type(addrs) ~= "table" then
    error(format("happy_eyeballs.connect: the resolver's addresses must be a list of "
      .. "{address = ...} tables, got %s", type(addrs)), 0)
  end
  if next(addrs) == nil then     -- read raw: nothing in it, whatever its __len
    error(format("happy_eyeballs.connect: no address found for %s", host), 0)
  end
  local ordered, addresses = rfc_order(addrs)
  if not ordered then
    error(format("happy_eyeballs.connect: the resolver's %s", addresses), 0)
  end
  local winner, failures, n = attempt_all(addresses, port, o)   -- n: every attempt
  if winner then return winner end
  local failed = #failures.tasks + (failures.dropped or 0)
  if failed == 0 then                          -- each cancelled itself
    error(format("happy_eyeballs.connect: no attempt connected to %s port %d (every "
      .. "attempt was cancelled)", host, port), 0)
  end
  local what = n == 1 and "the attempt" or failed == n and format("all %d attempts", n)
    or format("%d of %d attempts (the others were cancelled)", failed, n)
  error(util.error_group(failures, format(
    "happy_eyeballs.connect: %s to connect to %s port %d failed", what, host, port)), 0)
end

return M
