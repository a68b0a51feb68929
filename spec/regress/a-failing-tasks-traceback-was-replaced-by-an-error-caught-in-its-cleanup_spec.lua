-- Regression: an error caught through a corral scope while a task's failure
-- unwound (in a <close> handler) or inside its group's on_error replaced the
-- failure's traceback, in the ErrorGroup, in t:traceback() and in a trace's
-- failure text: the message handler keeps one traceback per task, the
-- newest. It keeps the one before too now, and the failure's is final once
-- the task has failed (a verifier found it).
local corral = require "corral"

local function real_bug() error("the real bug", 0) end
local function hiccup() error("cleanup hiccup", 0) end

describe("regression: a failing task's traceback", function()
  it("is not replaced by an error a <close> handler caught", function()
    local eg
    corral.run(function()
      _, eg = pcall(corral.group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            pcall(corral.scope, hiccup)
          end })
          real_bug()
        end)
      end)
    end)
    assert.equal("the real bug", eg.errors[1])
    assert.matches("in upvalue 'real_bug'", eg.tracebacks[1])
    assert.not_matches("hiccup", eg.tracebacks[1])
  end)

  it("is not replaced by errors on_error caught, nor is t:traceback() there", function()
    local eg, seen
    corral.run(function()
      _, eg = pcall(corral.group, function(g)
        g:spawn(real_bug)
      end, { on_error = function(_, t)
        pcall(corral.scope, hiccup)
        pcall(corral.scope, hiccup)
        seen = t:traceback()
        return false
      end })
    end)
    assert.matches("^the real bug\n", seen)
    assert.matches("^the real bug\n", eg.tracebacks[1])
  end)

  it("is none rather than another error's when neither kept one is its own", function()
    local eg
    corral.run(function()
      _, eg = pcall(corral.group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            pcall(corral.scope, hiccup)     -- two caught while it unwinds
            pcall(corral.scope, function() error("another", 0) end)
          end })
          real_bug()
        end)
      end)
    end)
    assert.equal("the real bug", eg.errors[1])
    assert.not_matches("hiccup", eg.tracebacks[1])
    assert.not_matches("another", eg.tracebacks[1])
  end)
end)
