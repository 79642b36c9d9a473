-- The main job: load the built-in model (or MODEL_DIR), continue a few prompts, and show how
-- the generated tokens spread over each MoE layer's experts.
--
--   switchyard run scripts/pipelines/builtin_model_demo.lua [MODEL_DIR] [QUANTIZER]
--
-- e.g. `... builtin_model_demo.lua "" quantizer.int4` runs the built-in model with int4 experts.
local sy = require "switchyard"

local dir = arg[1] ~= "" and arg[1] or nil
local quantizer = arg[2]

local started = os.clock()
local model = sy.load_model(dir, { quantizer = quantizer })
local c = model:config()
print(string.format("model    %s: %s, %d layers, hidden %d, %d experts, top-%d, vocab %d%s",
  model:name(), c.architecture, c.layers, c.hidden, c.experts, c.top_k, c.vocab,
  quantizer and (", experts " .. quantizer) or ""))
print(string.format("loaded   in %.2f s\n", os.clock() - started))

local prompts = {
  "The list type",
  "To open a file for reading,",
  "A dictionary maps",
  "def read_config(path):",
}
local total_tokens, total_seconds = 0, 0
for i, prompt in ipairs(prompts) do
  io.write(string.format("[%d] %s", i, prompt))
  local _, info = model:generate(prompt, {
    max_tokens = 48, temperature = 0.7, top_p = 0.9, repetition_penalty = 1.15, seed = i,
    stream = function(piece) io.write(piece); io.flush() end,
  })
  print(string.format("\n    (%d tokens, %s, %.0f tokens/s)\n", info.completion_tokens,
    info.finish_reason, info.decode_tokens_per_s))
  total_tokens = total_tokens + info.completion_tokens
end

-- Per-expert load of everything above (prompts and generated tokens), per MoE layer.
local layers = model:expert_load()
local headers = { "layer" }
for e = 1, c.experts do headers[#headers + 1] = "e" .. (e - 1) end
for _, h in ipairs({ "max/mean", "CV", "Jain" }) do headers[#headers + 1] = h end
local rows = {}
for _, layer in ipairs(layers) do
  local row = { layer.layer }
  for _, n in ipairs(layer.tokensPerExpert) do row[#row + 1] = n end
  row[#row + 1] = string.format("%.2f", layer.maxOverMean)
  row[#row + 1] = string.format("%.2f", layer.coefficientOfVariation)
  row[#row + 1] = string.format("%.3f", layer.jainIndex)
  rows[#rows + 1] = row
end
print(string.format("tokens routed per expert (top-%d: each token counts once per expert it uses)", c.top_k))
sy.report.table(headers, rows)
