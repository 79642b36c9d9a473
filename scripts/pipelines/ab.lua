-- A/B test two MoE pipelines on the same prompts from Lua, and act on the figures.
--
--   switchyard run scripts/pipelines/ab.lua [B_SPEC] [A_SPEC] [MODEL_DIR]
--
--   B_SPEC     the variant, e.g. "quantizer=quantizer.int4" or "router=router.hash,capacity=1.25";
--              default: quantizer=quantizer.int4
--   A_SPEC     the baseline; default: the model as loaded
--   MODEL_DIR  default: the built-in model
--
-- Writes ab.html and ab.json beside the working directory, then prints a verdict a CI job can
-- gate on: the variant passes when its perplexity is within 2% of the baseline's.
local sy = require "switchyard"

local b = arg[1] ~= nil and arg[1] or "quantizer=quantizer.int4"
local a = arg[2] or ""
local dir = arg[3] ~= "" and arg[3] or nil

local r = sy.ab { model = dir, a = a, b = b, max_tokens = 16, html = "ab.html", json = "ab.json" }

local q = r.quality
print(string.format("A %-28s perplexity %.3f  %.1f tokens/s", a == "" and "(as loaded)" or a,
  r.a.perplexity, r.a.tokens_per_second))
print(string.format("B %-28s perplexity %.3f  %.1f tokens/s", b == "" and "(as loaded)" or b,
  r.b.perplexity, r.b.tokens_per_second))
print(string.format("mean KL %.4f nats, top-1 agreement %.1f%%, greedy agreement %.1f%%",
  q.mean_kl, 100 * q.top1_agreement, 100 * q.greedy_agreement))
for layer, ratio in ipairs(r.b.max_over_mean) do
  print(string.format("layer %d: B max/mean expert load %.2f (A %.2f)", layer - 1, ratio,
    r.a.max_over_mean[layer]))
end
local change = r.b.perplexity / r.a.perplexity - 1
print(string.format("verdict: %s (perplexity %+.2f%%)", math.abs(change) <= 0.02 and "PASS" or "FAIL",
  100 * change))
