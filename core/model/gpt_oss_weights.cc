#include "core/model/gpt_oss_weights.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/mxfp4.h"
#include "core/model/weight_loader.h"

namespace sy {
namespace {

constexpr float kSwigluAlpha = 1.702f;

// The fused expert tensor `name` as f32 [E, out, in] (rows = output features): dequantized from
// name_blocks / name_scales when present, else transposed from the [E, in, out] that
// transformers saves.
absl::StatusOr<Tensor> LoadExpertMatrices(const Checkpoint& ckpt, const std::string& name,
                                          int64_t experts, int64_t out, int64_t in) {
  const std::string blocks = name + "_blocks";
  if (ckpt.Has(blocks)) {
    const std::string scales = name + "_scales";
    if (!ckpt.Has(scales)) {
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt.dir(), ": tensor '", blocks, "' has no '", scales, "'"));
    }
    SY_ASSIGN_OR_RETURN(Tensor b, ckpt.Get(blocks));
    SY_ASSIGN_OR_RETURN(Tensor s, ckpt.Get(scales));
    absl::StatusOr<Tensor> w = DequantizeMxfp4(b, s, blocks);
    if (!w.ok())
      return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": ", w.status().message()));
    if (w->shape() != Shape{experts, out, in}) {
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt.dir(), ": tensor '", blocks, "' holds ", ShapeToString(w->shape()),
                       " values, the config implies ", ShapeToString({experts, out, in})));
    }
    return w;
  }
  SY_ASSIGN_OR_RETURN(Tensor t, LoadF32(ckpt, name, {experts, in, out}));
  SY_ASSIGN_OR_RETURN(Tensor w, Tensor::Empty({experts, out, in}, DType::kF32));
  const float* src = t.data<float>();
  float* dst = w.data<float>();
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t o = 0; o < out; ++o) dst[(e * out + o) * in + i] = src[(e * in + i) * out + o];
    }
  }
  return w;
}

// Row r of the interleaved [2I, ...] goes to r / 2 (gate, even r) or I + r / 2 (up, odd r).
int64_t Deinterleaved(int64_t r, int64_t inter) { return r % 2 == 0 ? r / 2 : inter + r / 2; }

}  // namespace

absl::StatusOr<MoeWeights> LoadGptOssMoeWeights(const Checkpoint& ckpt, int64_t layer) {
  const ModelConfig& c = ckpt.config();
  const int64_t h = c.hidden_size, inter = c.intermediate_size, experts = c.num_experts;
  const std::string p = absl::StrCat("model.layers.", layer, ".mlp.");
  MoeWeights w;
  SY_ASSIGN_OR_RETURN(w.router, LoadF32(ckpt, p + "router.weight", {experts, h}));
  SY_ASSIGN_OR_RETURN(w.router_bias, LoadOptional(ckpt, true, p + "router.bias", {experts}));
  SY_ASSIGN_OR_RETURN(Tensor gate_up,
                      LoadExpertMatrices(ckpt, p + "experts.gate_up_proj", experts, 2 * inter, h));
  SY_ASSIGN_OR_RETURN(Tensor down,
                      LoadExpertMatrices(ckpt, p + "experts.down_proj", experts, h, inter));
  SY_ASSIGN_OR_RETURN(Tensor gate_up_bias,
                      LoadF32(ckpt, p + "experts.gate_up_proj_bias", {experts, 2 * inter}));
  SY_ASSIGN_OR_RETURN(w.down_bias,
                      LoadOptional(ckpt, true, p + "experts.down_proj_bias", {experts, h}));
  SY_ASSIGN_OR_RETURN(Tensor bias, Tensor::Empty({experts, 2 * inter}, DType::kF32));
  for (int64_t e = 0; e < experts; ++e) {
    SY_ASSIGN_OR_RETURN(Tensor gu, Tensor::Empty({2 * inter, h}, DType::kF32));
    SY_ASSIGN_OR_RETURN(Tensor d, Tensor::Empty({h, inter}, DType::kF32));
    for (int64_t r = 0; r < 2 * inter; ++r) {
      const int64_t to = Deinterleaved(r, inter);
      std::copy_n(gate_up.data<float>() + (e * 2 * inter + r) * h, h, gu.data<float>() + to * h);
      bias.data<float>()[e * 2 * inter + to] = gate_up_bias.data<float>()[e * 2 * inter + r];
    }
    std::copy_n(down.data<float>() + e * h * inter, h * inter, d.data<float>());
    w.gate_up.push_back(std::move(gu));
    w.down.push_back(std::move(d));
  }
  w.gate_up_bias = std::move(bias);
  w.activation = SY_ACTIVATION_CLAMPED_SWIGLU;
  w.swiglu_alpha = kSwigluAlpha;
  w.swiglu_limit = static_cast<float>(c.swiglu_limit);
  return w;
}

}  // namespace sy
