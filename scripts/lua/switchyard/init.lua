-- The switchyard Lua library: `local sy = require "switchyard"`.
--
-- The C module switchyard.core provides plugins, components and tensors; this file adds the
-- conveniences written in Lua. See docs/lua-api.md for the whole API.
local core = require "switchyard.core"

local sy = {
  version = core.version,
  abi = core.abi,
  plugins = core.plugins,
  load_errors = core.load_errors,
  describe = core.describe,
  component = core.component,
  tensor = core.tensor,
  randn = core.randn,
  rand = core.rand,
  zeros = core.zeros,
  cuda_device_count = core.cuda_device_count,
  moe = core.moe,
  moe_weights = core.moe_weights,
  trace_writer = core.trace_writer,
  load_model = core.load_model,
  engine = core.engine,
  serve = core.serve,
  ab = core.ab,
}

sy.report = require "switchyard.report"

-- Per-expert token counts of a router's expert_ids ([tokens, k] i32; -1 = dropped).
-- Returns counts (1-based: counts[e + 1] is expert e) and the number of dropped slots.
function sy.expert_counts(expert_ids, num_experts)
  local counts = {}
  for e = 1, num_experts do counts[e] = 0 end
  local dropped = 0
  for _, row in ipairs(expert_ids:to_table()) do
    for _, e in ipairs(row) do
      if e < 0 then dropped = dropped + 1 else counts[e + 1] = counts[e + 1] + 1 end
    end
  end
  return counts, dropped
end

return sy
