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
#ifndef SWITCHYARD_CORE_MODEL_MODEL_CONFIG_H_
#define SWITCHYARD_CORE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace sy {

enum class Architecture { kMixtral, kQwen2Moe, kQwen3Moe, kOlmoe };

// "MixtralForCausalLM" and so on: the names config.json's "architectures" uses.
const char* ArchitectureName(Architecture arch);

enum class QkNorm { kNone, kPerHead, kAcrossHeads };

struct RopeScaling {
  std::string type;  // "linear", "dynamic", "yarn", ... ("rope_type" in newer configs)
  double factor = 1.0;
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

  // Whether layer `layer` has an MoE block (else a dense MLP of intermediate_size).
  bool IsMoeLayer(int64_t layer) const;
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
