-- The task tree escaped C0 control bytes in names but passed through the C1
-- controls (a raw 0x9B, or U+009B, is CSI to a terminal that obeys 8-bit
-- controls), U+0085 and the bidirectional overrides: a name ending in U+202E
-- showed the id after it reversed ("bidi11# live"), in the tree and in the
-- lane labels of trace-svg.
local corral = require "corral"
local trace_svg = require "corral.trace_svg"

local NAMES = { "csi\x9b2J", "c1\u{9b}x", "nel\u{85}", "bidi\u{202e}evil",
  "iso\u{2067}x", "lsep\u{2028}x", "alm\u{61c}x", "bad\xff", "caf\u{e9} \u{1F600}" }

describe("regression: C1 controls and bidi overrides in names", function()
  it("are escaped byte by byte in the tree, and valid UTF-8 is kept", function()
    local text
    corral.run(function()
      corral.group(function(g)
        for _, n in ipairs(NAMES) do g:spawn({ function() corral.sleep(1) end, name = n }) end
        corral.sleep(0)
        text = corral.tree()
        g:cancel()
      end)
    end, { clock = "virtual" })
    for _, expect in ipairs({ "task csi\\1552J #", "task c1\\194\\155x #", "task nel\\194\\133 #",
        "task bidi\\226\\128\\174evil #", "task iso\\226\\129\\167x #",
        "task lsep\\226\\128\\168x #", "task alm\\216\\156x #", "task bad\\255 #", "task caf\u{e9} \u{1F600} #" }) do
      assert.truthy(text:find(expect, 1, true), expect .. " in:\n" .. text)
    end
    for _, raw in ipairs({ "\x9b", "\u{9b}", "\u{85}", "\u{202e}", "\u{2067}", "\u{2028}", "\u{61c}", "\xff" }) do
      assert.is_nil(text:find(raw, 1, true))
    end
  end)

  it("show as ? in trace-svg's labels", function()
    local path = os.tmpname()
    corral.run(function()
      corral.group(function(g)
        for _, n in ipairs(NAMES) do g:spawn({ function() corral.sleep(1) end, name = n }) end
      end)
    end, { clock = "virtual", trace = path })
    local f = assert(io.open(path))
    local svg = trace_svg.render(f:read("a"))
    f:close()
    os.remove(path)
    assert.truthy(svg:find("bidi?evil #", 1, true))
    for _, raw in ipairs({ "\u{9b}", "\u{85}", "\u{202e}", "\u{2067}", "\u{2028}" }) do
      assert.is_nil(svg:find(raw, 1, true))
    end
  end)
end)
