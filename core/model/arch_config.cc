#include "core/model/arch_config.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

absl::StatusOr<int64_t> IntOr(const ConfigFields& f, const char* key, int64_t fallback) {
  if (!f.Has(key)) return fallback;
  return f.PositiveInt(key);
}

absl::Status ReadMla(const ConfigFields& f, ModelConfig& c) {
  MlaConfig m;
  // q_lora_rank null: queries come from a plain q_proj.
  if (f.Has("q_lora_rank")) {
    SY_ASSIGN_OR_RETURN(m.q_lora_rank, f.PositiveInt("q_lora_rank"));
  }
  SY_ASSIGN_OR_RETURN(m.kv_lora_rank, f.PositiveInt("kv_lora_rank"));
  SY_ASSIGN_OR_RETURN(m.qk_nope_head_dim, f.PositiveInt("qk_nope_head_dim"));
  SY_ASSIGN_OR_RETURN(m.qk_rope_head_dim, f.PositiveInt("qk_rope_head_dim"));
  SY_ASSIGN_OR_RETURN(m.v_head_dim, f.PositiveInt("v_head_dim"));
  if (m.qk_rope_head_dim % 2 != 0) {
    return f.Error("qk_rope_head_dim", absl::StrCat("(", m.qk_rope_head_dim, ") must be even"));
  }
  SY_ASSIGN_OR_RETURN(std::optional<bool> interleave, f.OptionalBool("rope_interleave"));
  m.rope_interleave = interleave.value_or(true);
  c.mla = m;
  c.head_dim = m.qk_rope_head_dim;  // as DeepseekV3Config sets it: the rotary width
  return absl::OkStatus();
}

absl::Status ReadGroupedRouting(const ConfigFields& f, ModelConfig& c) {
  SY_ASSIGN_OR_RETURN(c.n_group, IntOr(f, "n_group", 8));
  SY_ASSIGN_OR_RETURN(c.topk_group, IntOr(f, "topk_group", 4));
  SY_ASSIGN_OR_RETURN(std::optional<double> scale, f.OptionalNumber("routed_scaling_factor"));
  c.routed_scaling_factor = scale.value_or(2.5);
  if (c.num_experts % c.n_group != 0) {
    return f.Error("n_group", absl::StrCat("(", c.n_group, ") does not divide n_routed_experts (",
                                           c.num_experts, ") into equal groups"));
  }
  if (c.topk_group > c.n_group) {
    return f.Error("topk_group",
                   absl::StrCat("(", c.topk_group, ") exceeds n_group (", c.n_group, ")"));
  }
  const int64_t kept = c.topk_group * (c.num_experts / c.n_group);
  if (c.num_experts_per_tok > kept) {
    return f.Error("num_experts_per_tok",
                   absl::StrCat("(", c.num_experts_per_tok, ") exceeds the ", kept,
                                " experts of the topk_group kept groups"));
  }
  if (c.routed_scaling_factor <= 0) {
    return f.Error("routed_scaling_factor", "must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadDeepseekV3Fields(const ConfigFields& f, ModelConfig& c) {
  SY_RETURN_IF_ERROR(ReadMla(f, c));
  SY_RETURN_IF_ERROR(ReadGroupedRouting(f, c));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> shared, f.OptionalInt("n_shared_experts"));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> dense, f.OptionalInt("first_k_dense_replace"));
  c.n_shared_experts = shared.value_or(1);
  c.first_k_dense_replace = dense.value_or(3);
  if (c.n_shared_experts < 0) return f.Error("n_shared_experts", "must not be negative");
  if (c.first_k_dense_replace < 0) return f.Error("first_k_dense_replace", "must not be negative");
  return absl::OkStatus();
}

absl::Status ReadGptOssFields(const nlohmann::json& json, const ConfigFields& f, ModelConfig& c) {
  SY_ASSIGN_OR_RETURN(c.sliding_window, IntOr(f, "sliding_window", 128));
  SY_ASSIGN_OR_RETURN(std::optional<double> limit, f.OptionalNumber("swiglu_limit"));
  c.swiglu_limit = limit.value_or(7.0);
  if (c.swiglu_limit <= 0) return f.Error("swiglu_limit", "must be positive");
  if (!c.rope_scaling) {  // GptOssConfig's default rope_parameters
    RopeScaling yarn;
    yarn.type = "yarn";
    yarn.factor = 32;
    yarn.original_max_position_embeddings = 4096;
    yarn.truncate = false;
    c.rope_scaling = yarn;
  }
  c.sliding_layers.assign(c.num_hidden_layers, false);
  const auto it = json.find("layer_types");
  if (it == json.end() || it->is_null()) {
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.sliding_layers[l] = l % 2 == 0;
    return absl::OkStatus();
  }
  if (!it->is_array() || static_cast<int64_t>(it->size()) != c.num_hidden_layers) {
    return f.Error("layer_types", absl::StrCat("must be a list of ", c.num_hidden_layers,
                                               " strings (one per layer)"));
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const nlohmann::json& type = (*it)[l];
    const bool sliding = type == "sliding_attention";
    if (!sliding && type != "full_attention") {
      return f.Error("layer_types", absl::StrCat("item ", l, " is ", type.dump(),
                                                 "; expected \"sliding_attention\" or "
                                                 "\"full_attention\""));
    }
    c.sliding_layers[l] = sliding;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<WeightQuantization>> ReadWeightQuantization(
    const nlohmann::json& json, const std::string& source) {
  const auto it = json.find("quantization_config");
  if (it == json.end() || it->is_null()) return std::nullopt;
  const ConfigFields f(*it, absl::StrCat(source, ": quantization_config"));
  SY_ASSIGN_OR_RETURN(std::optional<std::string> method, f.OptionalString("quant_method"));
  WeightQuantization q;
  q.method = method.value_or("");
  if (q.method == "mxfp4") return q;
  if (q.method != "fp8") {
    return f.Error("quant_method",
                   absl::StrCat("'", q.method, "' is not supported (fp8 block-scaled, mxfp4)"));
  }
  SY_ASSIGN_OR_RETURN(std::vector<int64_t> block, f.IntList("weight_block_size"));
  if (block.empty()) return q;
  if (block.size() != 2 || block[0] <= 0 || block[1] <= 0) {
    return f.Error("weight_block_size", "must be two positive integers [rows, cols]");
  }
  q.block_rows = block[0];
  q.block_cols = block[1];
  return q;
}

}  // namespace sy
