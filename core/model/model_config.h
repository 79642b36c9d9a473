// ModelConfig: the fields of a Hugging Face config.json that the runtime needs, for the MoE
// architectures Switchyard runs. Defaults follow each architecture's transformers config
// class where a checkpoint may leave a field out; shape-defining fields are required.
//
// Routing semantics differ per architecture and are spelled out here rather than left to
// callers: Mixtral softmaxes over all experts, takes the top k and renormalizes them
// (norm_topk_prob); Qwen2-MoE and Qwen3-MoE renormalize only when norm_topk_prob is set,
// and Qwen2-MoE adds a shared expert gated by sigmoid(x . shared_expert_gate); OLMoE never
// renormalizes by default. Qwen3-MoE RMS-normalizes q and k per head, OLMoE over the whole
// projection (all heads together).
//
// DeepSeek-V3 (and Kimi-K2, which ships the same architecture name) uses multi-head latent
// attention (MlaConfig), group-limited sigmoid routing with a selection bias (n_group,
// topk_group, routed_scaling_factor), n_shared_experts always-on experts and dense MLPs in its
// first first_k_dense_replace layers. gpt-oss alternates sliding-window and full attention
// (layer_types) with a learned sink logit per head and biases on every projection; its router
// has a bias and softmaxes the top-k logits (renormalized top-k), and its experts use a clamped
// SwiGLU with biases, stored as MXFP4 in the published checkpoints.
#ifndef SWITCHYARD_CORE_MODEL_MODEL_CONFIG_H_
#define SWITCHYARD_CORE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace sy {

enum class Architecture { kMixtral, kQwen2Moe, kQwen3Moe, kOlmoe, kDeepseekV3, kGptOss };

// "MixtralForCausalLM" and so on: the names config.json's "architectures" uses.
const char* ArchitectureName(Architecture arch);

enum class QkNorm { kNone, kPerHead, kAcrossHeads };

// rope_scaling (transformers 4) or rope_parameters (transformers 5).
struct RopeScaling {
  std::string type;  // "linear", "dynamic", "yarn", ... ("rope_type" in newer configs)
  double factor = 1.0;
  // "yarn" (absent fields take transformers' defaults).
  std::optional<double> original_max_position_embeddings;  // absent: max_position_embeddings
  double beta_fast = 32;
  double beta_slow = 1;
  double mscale = 0;          // 0: absent
  double mscale_all_dim = 0;  // 0: absent
  std::optional<double> attention_factor;
  bool truncate = true;
};

// DeepSeek's multi-head latent attention.
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0 (null in config.json): a plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool rope_interleave = true;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
};

// quantization_config of a pre-quantized checkpoint: "fp8" (DeepSeek: e4m3 weights with an f32
// weight_scale_inv per weight_block_size block) or "mxfp4" (gpt-oss experts).
struct WeightQuantization {
  std::string method;
  int64_t block_rows = 128;  // fp8 weight_block_size
  int64_t block_cols = 128;
};

struct ModelConfig {
  Architecture architecture = Architecture::kMixtral;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense MLP width; Mixtral and OLMoE: each expert's width
  int64_t moe_intermediate_size = 0;  // Qwen: each expert's width
  int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE only
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 0;
  double rope_theta = 0;
  std::optional<RopeScaling> rope_scaling;
  int64_t num_experts = 0;  // "num_local_experts" for Mixtral, "num_experts" otherwise
  int64_t num_experts_per_tok = 0;
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;       // Qwen: every step-th layer is MoE
  std::vector<int64_t> mlp_only_layers;  // Qwen: layers forced dense
  QkNorm qk_norm = QkNorm::kNone;
  bool attention_bias = false;  // q/k/v projections have biases (always for Qwen2-MoE)
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // empty when absent
  std::optional<WeightQuantization> quantization;

  // DeepSeek-V3.
  std::optional<MlaConfig> mla;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  double routed_scaling_factor = 1.0;
  int64_t n_shared_experts = 0;
  int64_t first_k_dense_replace = 0;

  // gpt-oss: the sliding window of the layers layer_types marks "sliding_attention".
  int64_t sliding_window = 0;
  std::vector<bool> sliding_layers;  // per layer; empty: none
  double swiglu_limit = 7.0;

  // Whether layer `layer` has an MoE block (else a dense MLP of intermediate_size).
  bool IsMoeLayer(int64_t layer) const;
  // The sliding window of layer `layer`; 0: full attention.
  int64_t SlidingWindow(int64_t layer) const;
  int64_t expert_intermediate_size() const;
};

// `source` names the file in errors ("/models/x/config.json: missing required field ...").
absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& json,
                                             const std::string& source = "config.json");

// generation_config.json: sampling defaults a checkpoint ships with. Absent fields stay empty.
struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<int64_t> max_new_tokens;
};

absl::StatusOr<GenerationConfig> ParseGenerationConfig(
    const nlohmann::json& json, const std::string& source = "generation_config.json");

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_MODEL_CONFIG_H_
