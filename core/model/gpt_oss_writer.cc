#include "core/model/gpt_oss_writer.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

constexpr float kE2m1Magnitudes[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

// The e2m1 code nearest to x (ties to the smaller magnitude).
uint8_t E2m1Code(float x) {
  const float a = std::fabs(x);
  int best = 0;
  for (int c = 1; c < 8; ++c) {
    if (std::fabs(kE2m1Magnitudes[c] - a) < std::fabs(kE2m1Magnitudes[best] - a)) best = c;
  }
  return static_cast<uint8_t>(best | (x < 0 && best != 0 ? 8 : 0));
}

absl::Status Invalid(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

}  // namespace

void AddGptOssConfig(const ModelSpec& spec, nlohmann::json& config) {
  config["num_local_experts"] = spec.experts;
  config["head_dim"] = spec.resolved_head_dim();
  config["attention_bias"] = true;
  config["sliding_window"] = spec.sliding_window;
  nlohmann::json types = nlohmann::json::array();
  for (int64_t l = 0; l < spec.layers; ++l) {
    types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
  }
  config["layer_types"] = types;
  config["swiglu_limit"] = 7.0;
  config["router_aux_loss_coef"] = 0.9;
  config["rope_scaling"] = {{"rope_type", "yarn"},
                            {"factor", 32.0},
                            {"beta_fast", 32.0},
                            {"beta_slow", 1.0},
                            {"truncate", false},
                            {"original_max_position_embeddings",
                             std::max<int64_t>(1, spec.max_position_embeddings / 32)}};
  if (spec.mxfp4) {
    config["quantization_config"] = {{"quant_method", "mxfp4"},
                                     {"modules_to_not_convert",
                                      {"model.layers.*.self_attn", "model.layers.*.mlp.router",
                                       "model.embed_tokens", "lm_head"}}};
  }
}

void AddGptOssLayer(const ModelSpec& spec, const std::string& prefix,
                    std::vector<TensorLayout>& out) {
  const int64_t h = spec.hidden, hd = spec.resolved_head_dim(), q = spec.heads * hd,
                kv = spec.kv_heads * hd, e = spec.experts, i = spec.intermediate;
  const std::string a = prefix + ".self_attn";
  out.push_back({a + ".q_proj.weight", {q, h}, false});
  out.push_back({a + ".q_proj.bias", {q}, false});
  out.push_back({a + ".k_proj.weight", {kv, h}, false});
  out.push_back({a + ".k_proj.bias", {kv}, false});
  out.push_back({a + ".v_proj.weight", {kv, h}, false});
  out.push_back({a + ".v_proj.bias", {kv}, false});
  out.push_back({a + ".o_proj.weight", {h, q}, false});
  out.push_back({a + ".o_proj.bias", {h}, false});
  out.push_back({a + ".sinks", {spec.heads}, false});
  out.push_back({prefix + ".post_attention_layernorm.weight", {h}, true});
  const std::string m = prefix + ".mlp";
  out.push_back({m + ".router.weight", {e, h}, false});
  out.push_back({m + ".router.bias", {e}, false});
  out.push_back({m + ".experts.gate_up_proj", {e, h, 2 * i}, false});
  out.push_back({m + ".experts.gate_up_proj_bias", {e, 2 * i}, false});
  out.push_back({m + ".experts.down_proj", {e, i, h}, false});
  out.push_back({m + ".experts.down_proj_bias", {e, h}, false});
}

bool IsMxfp4Tensor(const std::string& name) {
  return absl::EndsWith(name, ".experts.gate_up_proj") ||
         absl::EndsWith(name, ".experts.down_proj");
}

absl::StatusOr<std::pair<Tensor, Tensor>> QuantizeMxfp4(const Tensor& fused) {
  const int64_t experts = fused.dim(0), in = fused.dim(1), out = fused.dim(2);
  if (in % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MXFP4: the input width ", in, " is not a multiple of 32"));
  }
  const int64_t groups = in / 32;
  SY_ASSIGN_OR_RETURN(Tensor blocks, Tensor::Zeros({experts, out, groups, 16}, DType::kU8));
  SY_ASSIGN_OR_RETURN(Tensor scales, Tensor::Empty({experts, out, groups}, DType::kU8));
  const float* w = fused.data<float>();
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t g = 0; g < groups; ++g) {
        // Element j of the block is w[e, g * 32 + j, o] (the matrix transposed to [out, in]).
        auto value = [&](int64_t j) { return w[(e * in + g * 32 + j) * out + o]; };
        float amax = 0;
        for (int64_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(value(j)));
        const int exponent = amax > 0 ? static_cast<int>(std::ceil(std::log2(amax / 6.0f))) : -127;
        const int biased = std::clamp(exponent + 127, 0, 254);
        const int64_t b = (e * out + o) * groups + g;
        scales.data<uint8_t>()[b] = static_cast<uint8_t>(biased);
        uint8_t* bytes = blocks.data<uint8_t>() + b * 16;
        for (int64_t j = 0; j < 32; ++j) {
          const uint8_t code = E2m1Code(std::ldexp(value(j), -(biased - 127)));
          bytes[j / 2] |= j % 2 == 0 ? code : static_cast<uint8_t>(code << 4);
        }
      }
    }
  }
  return std::make_pair(std::move(blocks), std::move(scales));
}

absl::Status ValidateGptOssSpec(const ModelSpec& spec) {
  if (spec.sliding_window <= 0) return Invalid("sliding_window", "must be positive");
  if (spec.mxfp4 && (spec.hidden % 32 != 0 || spec.intermediate % 32 != 0)) {
    return Invalid("mxfp4", absl::StrCat("needs hidden (", spec.hidden, ") and intermediate (",
                                         spec.intermediate, ") to be multiples of 32"));
  }
  return absl::OkStatus();
}

}  // namespace sy
