#include "core/planning/model_presets.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"

namespace sy::planning {
namespace {

struct ModelPreset {
  const char* name;
  const char* repository;  // on huggingface.co, where config.json was copied from
  const char* config_json;
};

// Each config is the repository's config.json as published, less fields only training reads
// (dropout, initializer range, auxiliary-loss coefficients) and remote-code plumbing (auto_map).
constexpr ModelPreset kPresets[] = {
    {"mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1", R"json({
      "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
      "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
      "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768,
      "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32,
      "num_key_value_heads": 8, "num_local_experts": 8, "rms_norm_eps": 1e-05,
      "rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false,
      "torch_dtype": "bfloat16", "vocab_size": 32000})json"},
    {"mixtral-8x22b", "mistralai/Mixtral-8x22B-v0.1", R"json({
      "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
      "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
      "hidden_size": 6144, "intermediate_size": 16384, "max_position_embeddings": 65536,
      "num_attention_heads": 48, "num_experts_per_tok": 2, "num_hidden_layers": 56,
      "num_key_value_heads": 8, "num_local_experts": 8, "rms_norm_eps": 1e-05,
      "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": false,
      "torch_dtype": "bfloat16", "vocab_size": 32768})json"},
    {"qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", R"json({
      "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
      "attention_bias": false, "bos_token_id": 151643, "decoder_sparse_step": 1,
      "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048,
      "intermediate_size": 6144, "max_position_embeddings": 40960, "max_window_layers": 48,
      "mlp_only_layers": [], "moe_intermediate_size": 768, "norm_topk_prob": true,
      "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
      "num_hidden_layers": 48, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
      "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": null,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_sliding_window": false,
      "vocab_size": 151936})json"},
    {"qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B", R"json({
      "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
      "attention_bias": false, "bos_token_id": 151643, "decoder_sparse_step": 1,
      "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
      "intermediate_size": 12288, "max_position_embeddings": 40960, "max_window_layers": 94,
      "mlp_only_layers": [], "moe_intermediate_size": 1536, "norm_topk_prob": true,
      "num_attention_heads": 64, "num_experts": 128, "num_experts_per_tok": 8,
      "num_hidden_layers": 94, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
      "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": null,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_sliding_window": false,
      "vocab_size": 151936})json"},
    {"deepseek-v3", "deepseek-ai/DeepSeek-V3", R"json({
      "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "attention_bias": false, "bos_token_id": 0, "eos_token_id": 1,
      "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168,
      "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
      "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8,
      "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": true,
      "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61,
      "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536,
      "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
      "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3",
                              "quant_method": "fp8", "weight_block_size": [128, 128]},
      "rms_norm_eps": 1e-06,
      "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                       "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                       "type": "yarn"},
      "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid",
      "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc",
      "torch_dtype": "bfloat16", "v_head_dim": 128, "vocab_size": 129280})json"},
    {"kimi-k2", "moonshotai/Kimi-K2-Instruct", R"json({
      "architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2",
      "attention_bias": false, "bos_token_id": 163584, "eos_token_id": 163585,
      "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 7168,
      "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 131072,
      "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 1,
      "n_routed_experts": 384, "n_shared_experts": 1, "norm_topk_prob": true,
      "num_attention_heads": 64, "num_experts_per_tok": 8, "num_hidden_layers": 61,
      "num_key_value_heads": 64, "num_nextn_predict_layers": 0, "q_lora_rank": 1536,
      "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
      "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3",
                              "quant_method": "fp8", "weight_block_size": [128, 128]},
      "rms_norm_eps": 1e-06,
      "rope_scaling": {"beta_fast": 1.0, "beta_slow": 1.0, "factor": 32.0, "mscale": 1.0,
                       "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                       "type": "yarn"},
      "rope_theta": 50000.0, "routed_scaling_factor": 2.827, "scoring_func": "sigmoid",
      "tie_word_embeddings": false, "topk_group": 1, "topk_method": "noaux_tc",
      "torch_dtype": "bfloat16", "v_head_dim": 128, "vocab_size": 163840})json"},
    {"gpt-oss-120b", "openai/gpt-oss-120b", R"json({
      "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss",
      "attention_bias": true, "eos_token_id": 200002, "experts_per_token": 4, "head_dim": 64,
      "hidden_act": "silu", "hidden_size": 2880, "initial_context_length": 4096,
      "intermediate_size": 2880,
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention", "sliding_attention", "full_attention", "sliding_attention",
        "full_attention"],
      "max_position_embeddings": 131072, "num_attention_heads": 64, "num_experts_per_tok": 4,
      "num_hidden_layers": 36, "num_key_value_heads": 8, "num_local_experts": 128,
      "pad_token_id": 199999,
      "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
        "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
      "rms_norm_eps": 1e-05,
      "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                       "original_max_position_embeddings": 4096, "rope_type": "yarn",
                       "truncate": false},
      "rope_theta": 150000, "sliding_window": 128, "swiglu_limit": 7.0,
      "tie_word_embeddings": false, "vocab_size": 201088})json"},
};

}  // namespace

std::vector<std::string> ModelPresetNames() {
  std::vector<std::string> names;
  for (const ModelPreset& p : kPresets) names.push_back(p.name);
  return names;
}

namespace {

absl::StatusOr<const ModelPreset*> FindPreset(const std::string& name) {
  for (const ModelPreset& p : kPresets) {
    if (name == p.name) return &p;
  }
  return absl::NotFoundError(absl::StrCat("unknown model preset '", name, "' (presets: ",
                                          absl::StrJoin(ModelPresetNames(), ", "), ")"));
}

}  // namespace

absl::StatusOr<nlohmann::json> ModelPresetConfig(const std::string& name) {
  SY_ASSIGN_OR_RETURN(const ModelPreset* p, FindPreset(name));
  return nlohmann::json::parse(p->config_json);
}

absl::StatusOr<ModelShape> LoadModelPreset(const std::string& name) {
  SY_ASSIGN_OR_RETURN(const ModelPreset* p, FindPreset(name));
  const std::string source = absl::StrCat("preset ", p->name, " (", p->repository, ")");
  SY_ASSIGN_OR_RETURN(ModelShape shape,
                      ParseModelShape(nlohmann::json::parse(p->config_json), source));
  shape.name = p->name;
  shape.source = absl::StrCat(p->repository, " config.json");
  return shape;
}

absl::StatusOr<ModelShape> ResolveModel(const std::string& preset_or_path) {
  if (std::filesystem::exists(preset_or_path)) return LoadModelShape(preset_or_path);
  auto preset = LoadModelPreset(preset_or_path);
  if (preset.ok() || !absl::IsNotFound(preset.status())) return preset;
  return absl::NotFoundError(absl::StrCat(
      "'", preset_or_path, "' is neither a config.json, a model folder nor a preset (presets: ",
      absl::StrJoin(ModelPresetNames(), ", "), ")"));
}

}  // namespace sy::planning
