// ModelShape: what the memory planner needs to know about a model, read from a Hugging Face
// config.json. It is separate from ModelConfig (core/model) on purpose: the planner describes
// architectures the runtime does not run yet (DeepSeek-V3's multi-head latent attention,
// gpt-oss's sinks and sliding windows), and it needs every tensor's shape, not routing semantics.
//
// Supported: MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, OlmoeForCausalLM,
// DeepseekV2ForCausalLM, DeepseekV3ForCausalLM (also Kimi-K2, which uses it) and
// GptOssForCausalLM. Shape fields are required; layout switches default as the family's
// transformers config class does.
#ifndef SWITCHYARD_CORE_PLANNING_MODEL_SHAPE_H_
#define SWITCHYARD_CORE_PLANNING_MODEL_SHAPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/planning/storage_format.h"

namespace sy::planning {

enum class Family { kMixtral, kQwen2Moe, kQwen3Moe, kOlmoe, kDeepseekV2, kDeepseekV3, kGptOss };

enum class QkNorm {
  kNone,
  kPerHead,      // Qwen3-MoE: q_norm and k_norm of head_dim
  kAcrossHeads,  // OLMoE: q_norm of heads*head_dim, k_norm of kv_heads*head_dim
};

// Multi-head latent attention (DeepSeek-V2/V3): queries and keys/values pass through low-rank
// projections, and the KV cache holds the compressed kv_lora_rank latent plus the shared
// rotary key instead of per-head keys and values.
struct LatentAttention {
  int64_t q_lora_rank = 0;  // 0: q_proj straight from the hidden state (DeepSeek-V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

struct ModelShape {
  std::string name;    // the preset's name, or the folder holding config.json
  std::string source;  // where the config came from: a file's path, or the preset's repository
  std::string architecture;  // "MixtralForCausalLM", ...
  Family family = Family::kMixtral;

  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;  // 0 when the config does not say
  bool tie_word_embeddings = false;

  // Attention. GQA uses num_heads, num_kv_heads and head_dim; MLA uses num_heads and `mla`.
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  std::optional<LatentAttention> mla;
  bool qkv_bias = false;  // MLA: biases on q_a_proj and kv_a_proj_with_mqa
  bool o_bias = false;
  QkNorm qk_norm = QkNorm::kNone;
  bool attention_sinks = false;  // gpt-oss: one learned logit per head
  // Per layer: the attention window in tokens, 0 for full attention.
  std::vector<int64_t> attention_window;

  // Feed-forward. Layers without MoE have a dense SwiGLU MLP of dense_intermediate_size.
  std::vector<bool> moe_layer;
  int64_t dense_intermediate_size = 0;
  int64_t num_experts = 0;
  int64_t experts_per_token = 0;
  int64_t expert_intermediate_size = 0;
  // All shared experts of a layer together as one MLP of this width; 0 when there are none.
  int64_t shared_intermediate_size = 0;
  bool shared_expert_gate = false;     // Qwen2-MoE: sigmoid(x . w) scales the shared expert
  bool router_bias = false;            // gpt-oss
  bool score_correction_bias = false;  // DeepSeek-V3: e_score_correction_bias
  bool expert_biases = false;          // gpt-oss: biases on gate_up_proj and down_proj
  bool fused_gate_up = false;          // gpt-oss stores gate and up as one [2I, H] matrix

  // Multi-token-prediction layers the checkpoint carries beyond num_hidden_layers (DeepSeek-V3's
  // num_nextn_predict_layers). The runtime does not load them, so plans do not count them.
  int64_t mtp_layers = 0;

  // The published weight format (quantization_config), the planner's default: fp8 checkpoints
  // quantize every decoder projection, gpt-oss's mxfp4 only the experts.
  WeightPrecision checkpoint_precision = WeightPrecision::kBf16;
  QuantScope checkpoint_scope = QuantScope::kExperts;
  std::string checkpoint_quant_method;  // quantization_config.quant_method, "" when absent

  int64_t MoeLayerCount() const;
};

// `source` names the config in errors: "<source>: missing required field 'hidden_size'
// (MixtralForCausalLM)". It becomes the shape's name and source.
absl::StatusOr<ModelShape> ParseModelShape(const nlohmann::json& config, const std::string& source);

// Reads a config.json file, or the config.json inside a model folder; the shape is named after
// the folder.
absl::StatusOr<ModelShape> LoadModelShape(const std::string& path);

}  // namespace sy::planning

#endif  // SWITCHYARD_CORE_PLANNING_MODEL_SHAPE_H_
