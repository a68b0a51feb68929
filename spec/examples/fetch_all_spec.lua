local corral = require "corral"
local testing = require "corral.testing"

-- The code under test: fetch every url, at most n at a time, results in order.
local function fetch_all(urls, n, fetch)
  local results = {}
  corral.group(function(g)
    for i, url in ipairs(urls) do
      g:spawn(function() results[i] = fetch(url) end)
    end
  end, { limit = n })
  return results
end

describe("fetch_all", function()
  it("runs at most n fetches at once and keeps the order", testing.async(function()
    local running, most = 0, 0
    local function fetch(url)
      assert.is_string(url)               -- checked inside a child task
      running = running + 1
      most = math.max(most, running)
      corral.sleep(1)                     -- virtual: takes no real time
      running = running - 1
      return url:upper()
    end
    local r = fetch_all({ "a", "b", "c", "d", "e" }, 2, fetch)
    assert.same({ "A", "B", "C", "D", "E" }, r)
    assert.equal(2, most)
    assert.equal(3, corral.now())         -- 5 fetches, 2 at a time: 3 rounds
  end))
end)
