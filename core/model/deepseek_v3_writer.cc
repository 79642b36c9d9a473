#include "core/model/deepseek_v3_writer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "switchyard/dtype.hpp"

namespace sy {
namespace {

constexpr int64_t kFp8Block = 128;

void AddMlp(const std::string& prefix, int64_t hidden, int64_t width,
            std::vector<TensorLayout>& out) {
  out.push_back({prefix + ".gate_proj.weight", {width, hidden}, false});
  out.push_back({prefix + ".up_proj.weight", {width, hidden}, false});
  out.push_back({prefix + ".down_proj.weight", {hidden, width}, false});
}

absl::Status Invalid(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

}  // namespace

void AddDeepseekV3Config(const ModelSpec& spec, nlohmann::json& config) {
  config["n_routed_experts"] = spec.experts;
  config["moe_intermediate_size"] = spec.intermediate;
  config["intermediate_size"] = spec.dense_intermediate;
  config["q_lora_rank"] = spec.q_lora_rank > 0 ? nlohmann::json(spec.q_lora_rank) : nullptr;
  config["kv_lora_rank"] = spec.kv_lora_rank;
  config["qk_nope_head_dim"] = spec.qk_nope_head_dim;
  config["qk_rope_head_dim"] = spec.qk_rope_head_dim;
  config["v_head_dim"] = spec.v_head_dim;
  config["n_group"] = spec.n_group;
  config["topk_group"] = spec.topk_group;
  config["n_shared_experts"] = spec.n_shared_experts;
  config["first_k_dense_replace"] = spec.first_k_dense_replace;
  config["routed_scaling_factor"] = spec.routed_scaling_factor;
  config["norm_topk_prob"] = true;
  config["rope_interleave"] = true;
  config["attention_bias"] = false;
  config["num_key_value_heads"] = spec.heads;
  config["rope_scaling"] = nullptr;
  if (spec.yarn_factor > 0) {
    config["rope_scaling"] = {
        {"type", "yarn"},
        {"factor", spec.yarn_factor},
        {"original_max_position_embeddings",
         static_cast<int64_t>(static_cast<double>(spec.max_position_embeddings) /
                              spec.yarn_factor)},
        {"beta_fast", 32},
        {"beta_slow", 1},
        {"mscale", 1.0},
        {"mscale_all_dim", 1.0}};
  }
  if (spec.fp8) {
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"fmt", "e4m3"},
                                     {"activation_scheme", "dynamic"},
                                     {"weight_block_size", {kFp8Block, kFp8Block}}};
  }
}

void AddDeepseekV3Layer(const ModelSpec& spec, int64_t layer, const std::string& prefix,
                        std::vector<TensorLayout>& out) {
  const int64_t h = spec.hidden, heads = spec.heads;
  const int64_t qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim;
  const std::string a = prefix + ".self_attn";
  if (spec.q_lora_rank > 0) {
    out.push_back({a + ".q_a_proj.weight", {spec.q_lora_rank, h}, false});
    out.push_back({a + ".q_a_layernorm.weight", {spec.q_lora_rank}, true});
    out.push_back({a + ".q_b_proj.weight", {heads * qk, spec.q_lora_rank}, false});
  } else {
    out.push_back({a + ".q_proj.weight", {heads * qk, h}, false});
  }
  out.push_back(
      {a + ".kv_a_proj_with_mqa.weight", {spec.kv_lora_rank + spec.qk_rope_head_dim, h}, false});
  out.push_back({a + ".kv_a_layernorm.weight", {spec.kv_lora_rank}, true});
  out.push_back({a + ".kv_b_proj.weight",
                 {heads * (spec.qk_nope_head_dim + spec.v_head_dim), spec.kv_lora_rank},
                 false});
  out.push_back({a + ".o_proj.weight", {h, heads * spec.v_head_dim}, false});
  out.push_back({prefix + ".post_attention_layernorm.weight", {h}, true});
  const std::string mlp = prefix + ".mlp";
  if (layer < spec.first_k_dense_replace) return AddMlp(mlp, h, spec.dense_intermediate, out);
  out.push_back({mlp + ".gate.weight", {spec.experts, h}, false});
  out.push_back({mlp + ".gate.e_score_correction_bias", {spec.experts}, false});
  for (int64_t e = 0; e < spec.experts; ++e) {
    AddMlp(absl::StrCat(mlp, ".experts.", e), h, spec.intermediate, out);
  }
  if (spec.n_shared_experts > 0) {
    AddMlp(mlp + ".shared_experts", h, spec.n_shared_experts * spec.intermediate, out);
  }
}

bool IsFp8Weight(const std::string& name) {
  return absl::StartsWith(name, "model.layers.") && absl::EndsWith(name, "_proj.weight");
}

absl::StatusOr<std::pair<Tensor, Tensor>> QuantizeFp8Blocks(const Tensor& w) {
  const int64_t rows = w.dim(0), cols = w.dim(1);
  const int64_t block_rows = (rows + kFp8Block - 1) / kFp8Block;
  const int64_t block_cols = (cols + kFp8Block - 1) / kFp8Block;
  SY_ASSIGN_OR_RETURN(Tensor q, Tensor::Empty({rows, cols}, DType::kFP8E4M3));
  SY_ASSIGN_OR_RETURN(Tensor scales, Tensor::Empty({block_rows, block_cols}, DType::kF32));
  const float* x = w.data<float>();
  for (int64_t br = 0; br < block_rows; ++br) {
    for (int64_t bc = 0; bc < block_cols; ++bc) {
      const int64_t r_end = std::min(rows, (br + 1) * kFp8Block);
      const int64_t c_end = std::min(cols, (bc + 1) * kFp8Block);
      float amax = 0;
      for (int64_t r = br * kFp8Block; r < r_end; ++r) {
        for (int64_t c = bc * kFp8Block; c < c_end; ++c)
          amax = std::max(amax, std::fabs(x[r * cols + c]));
      }
      const float scale = amax > 0 ? amax / kFP8E4M3Max : 1.0f;
      scales.data<float>()[br * block_cols + bc] = scale;
      for (int64_t r = br * kFp8Block; r < r_end; ++r) {
        for (int64_t c = bc * kFp8Block; c < c_end; ++c) {
          q.data<uint8_t>()[r * cols + c] = F32ToFP8E4M3(x[r * cols + c] / scale);
        }
      }
    }
  }
  return std::make_pair(std::move(q), std::move(scales));
}

absl::Status ValidateDeepseekV3Spec(const ModelSpec& spec) {
  const std::pair<const char*, int64_t> sizes[] = {{"kv_lora_rank", spec.kv_lora_rank},
                                                   {"qk_nope_head_dim", spec.qk_nope_head_dim},
                                                   {"qk_rope_head_dim", spec.qk_rope_head_dim},
                                                   {"v_head_dim", spec.v_head_dim},
                                                   {"n_group", spec.n_group},
                                                   {"topk_group", spec.topk_group},
                                                   {"dense_intermediate", spec.dense_intermediate}};
  for (const auto& [field, value] : sizes) {
    if (value <= 0) return Invalid(field, absl::StrCat("must be positive, got ", value));
  }
  if (spec.qk_rope_head_dim % 2 != 0) return Invalid("qk_rope_head_dim", "must be even");
  if (spec.q_lora_rank < 0 || spec.n_shared_experts < 0 || spec.first_k_dense_replace < 0) {
    return Invalid("q_lora_rank", "n_shared_experts and first_k_dense_replace must be >= 0");
  }
  if (spec.experts % spec.n_group != 0) {
    return Invalid("n_group",
                   absl::StrCat("(", spec.n_group, ") must divide experts (", spec.experts, ")"));
  }
  if (spec.topk_group > spec.n_group ||
      spec.top_k > spec.topk_group * (spec.experts / spec.n_group)) {
    return Invalid("topk_group", "must be at most n_group and keep at least top_k experts");
  }
  if (spec.fp8 && spec.dtype != DType::kBF16 && spec.dtype != DType::kF32) {
    return Invalid("dtype", "must be f32 or bf16 beside fp8 weights");
  }
  return absl::OkStatus();
}

}  // namespace sy
