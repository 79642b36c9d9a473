-- Generate from a Hugging Face MoE model and show how its tokens spread over the experts.
--
--   switchyard make-model --arch qwen3_moe --out /tmp/tiny
--   switchyard run examples/generate.lua /tmp/tiny "Once upon a time"
local sy = require "switchyard"

local dir = assert(arg[1], "usage: generate.lua MODEL_DIR [PROMPT]")
local prompt = arg[2] or "The quick brown fox"

local model = sy.load_model(dir)                      -- or sy.load_model(dir, {quantizer = "quantizer.int8"})
local c = model:config()
print(string.format("%s: %d layers, hidden %d, %d experts, top-%d", c.architecture, c.layers, c.hidden,
  c.experts, c.top_k))

io.write(prompt)
local text, info = model:generate(prompt, {
  max_tokens = 24,
  temperature = 0.7,
  seed = 1,
  stream = function(piece) io.write(piece); io.flush() end,
})
print(string.format("\n\n%d prompt tokens, %d generated (%s), prefill %.1f ms, %.0f tokens/s",
  info.prompt_tokens, info.completion_tokens, info.finish_reason, info.prefill_ms, info.decode_tokens_per_s))

-- Per-expert load of the last step, per MoE layer.
for _, layer in ipairs(model:expert_load()) do
  print(string.format("layer %d  max/mean %.2f  tokens per expert {%s}", layer.layer, layer.maxOverMean,
    table.concat(layer.tokensPerExpert, ", ")))
end
