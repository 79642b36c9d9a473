-- An MoE layer assembled from plugins, run on random weights, with its telemetry.
--
--   switchyard run examples/moe_layer.lua [router] [quantizer]
--
-- Swapping a component is one line: change the router or the quantizer below (or pass their
-- names on the command line), everything else stays.
local sy = require "switchyard"

local router_name = arg[1] or "router.softmax_topk"
local quantizer_name = arg[2] or "quantizer.fp8"

local layer = sy.moe {
  router = sy.component(router_name, { k = 2 }),
  quantizer = sy.component(quantizer_name),
  experts = sy.component("experts.cpu"),
  weights = sy.moe_weights { experts = 8, hidden = 256, intermediate = 512, seed = 1 },
}
print(layer:describe())

local x = sy.randn({ 64, 256 }, { seed = 2 })
local y = layer:forward(x)
print(string.format("\nforward  %s -> %s", tostring(x):match("^[^\n]*"), tostring(y):match("^[^\n]*")))

local load = layer:load()
local rows = {}
local max = 0
for _, c in ipairs(load.tokensPerExpert) do max = math.max(max, c) end
for e, c in ipairs(load.tokensPerExpert) do rows[e] = { e - 1, c, sy.report.bar(c, max, 24) } end
print()
sy.report.table({ "expert", "slots", "load" }, rows)
print(string.format("\nmax/mean %.3f   CV %.3f   Jain %.3f   dropped %d   router %.0f us   experts %.0f us",
  load.maxOverMean, load.coefficientOfVariation, load.jainIndex, load.dropped, load.routerMicros, load.expertsMicros))
