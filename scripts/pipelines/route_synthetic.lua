-- The main job until the model runtime lands: route synthetic router logits through a router
-- plugin and show what it did.
--
--   switchyard run scripts/pipelines/route_synthetic.lua [tokens] [experts] [router]
--
-- Logits are drawn with a per-expert popularity skew (expert e gets a bias that falls with e),
-- so the load is uneven the way real MoE traffic is.
local sy = require "switchyard"

local tokens = tonumber(arg[1]) or 4096
local experts = tonumber(arg[2]) or 8
local router_name = arg[3] or "router.softmax_topk"

local router = sy.component(router_name, { k = 2, renormalize = true })
print(string.format("router   %s  (%s)", router:name(), router:library()))
print(string.format("config   %s", router:config_text()))

-- Skewed logits: N(0, 1) plus a popularity bias of 1.5 * (1 - e / experts).
local noise = sy.randn({ tokens, experts }, { seed = 7 })
local rows = noise:to_table()
for t = 1, tokens do
  for e = 1, experts do rows[t][e] = rows[t][e] + 1.5 * (1 - (e - 1) / experts) end
end
local logits = sy.tensor(rows)

local start = os.clock()
local ids, weights = router:route(logits)
local elapsed = os.clock() - start

local counts, dropped = sy.expert_counts(ids, experts)
local max = 0
for _, c in ipairs(counts) do max = math.max(max, c) end
print(string.format("\nrouted   %d tokens over %d experts, top-%d, in %.2f ms (%.2f M tokens/s)",
  tokens, experts, router:top_k(), elapsed * 1e3, tokens / math.max(elapsed, 1e-9) / 1e6))

local table_rows = {}
for e, c in ipairs(counts) do
  table_rows[e] = { e - 1, c, string.format("%.1f%%", 100 * c / (tokens * router:top_k())),
    sy.report.bar(c, max, 32) }
end
print()
sy.report.table({ "expert", "tokens", "share", "load" }, table_rows)

local balance = sy.report.balance(counts)
print(string.format("\nimbalance  max/mean %.3f   CV %.3f   Jain %.3f   dropped %d",
  balance.max_over_mean, balance.cv, balance.jain, dropped))

local first = weights:to_table()[1]
local first_ids = ids:to_table()[1]
print(string.format("token 0  experts {%d, %d}  weights {%.4f, %.4f}  (sum %.4f)",
  first_ids[1], first_ids[2], first[1], first[2], first[1] + first[2]))
