-- Build a router from a Lua table, route a small batch, and print the validated config and
-- what the router decided.
--
--   switchyard run examples/route_tokens.lua
local sy = require "switchyard"

-- Swapping routers is this one line: any router.* component with its config table.
local router = sy.component("router.softmax_topk", { k = 2 })

print("component  " .. router:name())
print("config     " .. router:config_text())

-- Four tokens over four experts.
local logits = sy.tensor({
  { 2.0, 1.0, 0.0, -1.0 },
  { 0.0, 3.0, 0.0, 2.5 },
  { -1.0, -1.0, 4.0, -1.0 },
  { 0.5, 0.5, 0.5, 0.5 },
})
local ids, weights = router:route(logits)

local rows = {}
for t, row in ipairs(ids:to_table()) do
  local w = weights:to_table()[t]
  rows[t] = { t - 1, string.format("%d, %d", row[1], row[2]), string.format("%.4f, %.4f", w[1], w[2]) }
end
sy.report.table({ "token", "experts", "weights" }, rows)
