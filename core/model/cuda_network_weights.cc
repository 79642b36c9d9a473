#include "core/model/cuda_network_weights.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/gpt_oss_weights.h"
#include "core/model/tensor_names.h"
#include "core/model/weight_loader.h"
#include "core/moe/expert_parallel.h"
#include "core/tensor/tensor_convert.h"

namespace sy {
namespace {

absl::Status CudaCheck(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(err)));
}

absl::Status KernelCheck(const std::string& err, const std::string& what) {
  if (err.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", err));
}

// One tensor's rows inside a stacked device matrix. Random weights are drawn as if every part
// of the model's full stack were there: `random_row` is where this part's rows start in it
// (-1: right after the previous part), so a rank holding a subset of the experts gets the very
// values the whole model has.
struct RowPart {
  std::string name;
  int64_t rows = 0;
  int64_t random_row = -1;
};

// The f32 scales of the parts' 128 x 128 block grids, in turn.
int64_t Fp8ScaleCount(const std::vector<RowPart>& parts, int64_t cols) {
  int64_t n = 0;
  for (const RowPart& p : parts) {
    n += kernels::MoeScaleCount(kernels::MoeWeightFormat::kFp8Block128, p.rows, cols);
  }
  return n;
}

// Produces the device tensors: each either read from the checkpoint (converted on the host to
// the device dtype, then copied) or, without one, synthesized in place on the device.
class DeviceWeightSource {
 public:
  DeviceWeightSource(const Checkpoint* checkpoint, uint64_t seed, Device device, void* stream)
      : checkpoint_(checkpoint), seed_(seed), device_(device), stream_(stream) {}

  // bf16 [sum of rows, cols]: the parts stacked row-wise. Random: uniform in
  // [-1/sqrt(cols), 1/sqrt(cols)), which keeps every projection's output at its input's scale.
  absl::StatusOr<Tensor> Bf16Rows(const std::vector<RowPart>& parts, int64_t cols) {
    return Bf16Rows(parts, cols, NextSeed());
  }

  // As above, drawn from `seed` when random (a stack that may be re-filled keeps its seed).
  absl::StatusOr<Tensor> Bf16Rows(const std::vector<RowPart>& parts, int64_t cols, uint64_t seed) {
    int64_t rows = 0;
    for (const RowPart& p : parts) rows += p.rows;
    SY_ASSIGN_OR_RETURN(Tensor out, Allocate({rows, cols}, DType::kBF16));
    SY_RETURN_IF_ERROR(FillBf16Rows(out, 0, parts, cols, seed));
    return out;
  }

  // Writes the parts into bf16 `out` [.., cols] from row `first_row` on.
  absl::Status FillBf16Rows(Tensor& out, int64_t first_row, const std::vector<RowPart>& parts,
                            int64_t cols, uint64_t seed) {
    int64_t row = first_row;
    if (checkpoint_ == nullptr) {
      const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
      int64_t random_row = 0;
      for (const RowPart& p : parts) {
        if (p.random_row >= 0) random_row = p.random_row;
        SY_RETURN_IF_ERROR(KernelCheck(
            kernels::LaunchFillUniformBF16(out.data<uint16_t>() + row * cols, p.rows * cols, scale,
                                           seed, stream_, random_row * cols),
            absl::StrCat("filling ", p.name)));
        row += p.rows;
        random_row += p.rows;
      }
      return absl::OkStatus();
    }
    for (const RowPart& p : parts) {
      SY_ASSIGN_OR_RETURN(Tensor f32, LoadF32(*checkpoint_, p.name, {p.rows, cols}));
      SY_ASSIGN_OR_RETURN(Tensor bf16, ConvertDType(f32, DType::kBF16));
      SY_RETURN_IF_ERROR(Upload(bf16, out.data<uint16_t>() + row * cols, p.name));
      row += p.rows;
    }
    return absl::OkStatus();
  }

  // fp8 e4m3 [sum of rows, cols] and f32 scales (each part's 128 x 128 grid in turn), copied
  // as the checkpoint stores them: DeepSeek-V3's weight and weight_scale_inv.
  absl::StatusOr<std::pair<Tensor, Tensor>> Fp8Rows(const std::vector<RowPart>& parts,
                                                    int64_t cols) {
    int64_t rows = 0;
    for (const RowPart& p : parts) rows += p.rows;
    SY_ASSIGN_OR_RETURN(Tensor values, Allocate({rows, cols}, DType::kFP8E4M3));
    SY_ASSIGN_OR_RETURN(Tensor scales, Allocate({Fp8ScaleCount(parts, cols)}, DType::kF32));
    SY_RETURN_IF_ERROR(FillFp8Rows(values, scales, 0, 0, parts, cols));
    return std::make_pair(std::move(values), std::move(scales));
  }

  // Writes the parts into `values` from row `first_row` on and their scales into `scales` from
  // `first_scale` on.
  absl::Status FillFp8Rows(Tensor& values, Tensor& scales, int64_t first_row, int64_t first_scale,
                           const std::vector<RowPart>& parts, int64_t cols) {
    const int64_t b = kernels::kMoeFp8Block;
    int64_t row = first_row, at = first_scale;
    for (const RowPart& p : parts) {
      SY_ASSIGN_OR_RETURN(Tensor q, checkpoint_->Require(p.name, {p.rows, cols}, DType::kFP8E4M3));
      SY_ASSIGN_OR_RETURN(Tensor s, checkpoint_->Get(p.name + "_scale_inv"));
      SY_ASSIGN_OR_RETURN(Tensor s32, ConvertDType(s, DType::kF32));
      if (s32.shape() != Shape{(p.rows + b - 1) / b, (cols + b - 1) / b}) {
        return absl::InvalidArgumentError(absl::StrCat(p.name, "_scale_inv is ", s32.Describe(),
                                                       ", not the 128 x 128 block grid"));
      }
      SY_RETURN_IF_ERROR(Upload(q, values.data<uint8_t>() + row * cols, p.name));
      SY_RETURN_IF_ERROR(Upload(s32, scales.data<float>() + at, p.name + "_scale_inv"));
      row += p.rows;
      at += s32.numel();
    }
    return absl::OkStatus();
  }

  // bf16 [sum of rows, cols] from f32 host matrices a loader already decoded (gpt-oss's
  // experts, de-interleaved and, from MXFP4, dequantized).
  absl::StatusOr<Tensor> Bf16FromHost(const std::vector<Tensor>& parts, int64_t cols,
                                      const std::string& what) {
    int64_t rows = 0;
    for (const Tensor& part : parts) rows += part.dim(0);
    SY_ASSIGN_OR_RETURN(Tensor out, Allocate({rows, cols}, DType::kBF16));
    int64_t row = 0;
    for (const Tensor& part : parts) {
      SY_ASSIGN_OR_RETURN(Tensor bf16, ConvertDType(part, DType::kBF16));
      SY_RETURN_IF_ERROR(Upload(bf16, out.data<uint16_t>() + row * cols, what));
      row += part.dim(0);
    }
    return out;
  }

  // An f32 host tensor on the device.
  absl::StatusOr<Tensor> F32FromHost(const Tensor& host, const std::string& what) {
    SY_ASSIGN_OR_RETURN(Tensor out, Allocate(host.shape(), DType::kF32));
    SY_RETURN_IF_ERROR(Upload(host, out.raw_data(), what));
    return out;
  }

  // f32 [rows, cols], random as Bf16Rows: a router's weights, kept in f32 because its logits
  // make discrete choices that bf16 rounding would flip near ties.
  absl::StatusOr<Tensor> F32Rows(const std::string& name, int64_t rows, int64_t cols) {
    if (checkpoint_ != nullptr) return F32(name, {rows, cols}, 0.0f);
    SY_ASSIGN_OR_RETURN(Tensor out, Allocate({rows * cols}, DType::kF32));
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchFillUniformF32(out.data<float>(), out.numel(), scale, NextSeed(), stream_),
        absl::StrCat("filling ", name)));
    return out;
  }

  // f32, the concatenation of the named tensors (of `shapes`); random: all `fill` (norm weights
  // 1, biases 0).
  absl::StatusOr<Tensor> F32(const std::vector<std::string>& names,
                             const std::vector<Shape>& shapes, float fill) {
    std::vector<int64_t> sizes;
    int64_t n = 0;
    for (const Shape& shape : shapes) {
      sizes.push_back(NumElements(shape));
      n += sizes.back();
    }
    SY_ASSIGN_OR_RETURN(Tensor out, Allocate({n}, DType::kF32));
    int64_t offset = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      Tensor host;
      if (checkpoint_ == nullptr) {
        SY_ASSIGN_OR_RETURN(host, Tensor::FromF32({sizes[i]}, std::vector<float>(sizes[i], fill)));
      } else {
        SY_ASSIGN_OR_RETURN(host, LoadF32(*checkpoint_, names[i], shapes[i]));
      }
      SY_RETURN_IF_ERROR(Upload(host, out.data<float>() + offset, names[i]));
      offset += sizes[i];
    }
    return out;
  }

  absl::StatusOr<Tensor> F32(const std::string& name, const Shape& shape, float fill) {
    return F32(std::vector<std::string>{name}, std::vector<Shape>{shape}, fill);
  }

  int64_t bytes() const { return bytes_; }
  uint64_t NextSeed() { return seed_ * 0x9E3779B97F4A7C15ull + ++tensors_; }

 private:
  absl::StatusOr<Tensor> Allocate(const Shape& shape, DType dtype) {
    absl::StatusOr<Tensor> t = Tensor::Empty(shape, dtype, device_);
    if (!t.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("device memory: ", DTypeBytes(dtype, NumElements(shape)),
                       " more bytes of weights after ", bytes_, " (", t.status().message(), ")"));
    }
    bytes_ += t->nbytes();
    return t;
  }

  absl::Status Upload(const Tensor& host, void* dst, const std::string& name) {
    return CudaCheck(cudaMemcpyAsync(dst, host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice,
                                     static_cast<cudaStream_t>(stream_)),
                     absl::StrCat("copying ", name, " to ", device_.ToString()));
  }

  const Checkpoint* checkpoint_;
  uint64_t seed_;
  Device device_;
  void* stream_;
  uint64_t tensors_ = 0;
  int64_t bytes_ = 0;
};

// The device array of expert pointers the MoE kernels index: gate_up of each expert, then
// down, then (fp8) their scales likewise.
absl::StatusOr<Tensor> ExpertPointers(const CudaExperts& e, Device device) {
  std::vector<int64_t> addresses;
  auto add = [&](const Tensor& stacked) {
    const int64_t stride = stacked.nbytes() / e.count;
    for (int32_t i = 0; i < e.count; ++i)
      addresses.push_back(reinterpret_cast<int64_t>(stacked.data<char>() + i * stride));
  };
  add(e.gate_up);
  add(e.down);
  if (e.gate_up_scales) {
    add(*e.gate_up_scales);
    add(*e.down_scales);
  }
  SY_ASSIGN_OR_RETURN(Tensor host,
                      Tensor::Empty({static_cast<int64_t>(addresses.size())}, DType::kI64));
  std::copy(addresses.begin(), addresses.end(), host.data<int64_t>());
  return host.To(device);
}

// Whether a checkpoint's experts are fp8 e4m3 with 128 x 128 block scales that the MoE kernels
// can read as they are (gate and up grids stack into gate_up's when I % 128 == 0): then they
// stay fp8 on the device, half the bytes of bf16, instead of being dequantized at load.
bool KeepFp8(const Checkpoint* checkpoint, const std::string& weight, int64_t intermediate) {
  if (checkpoint == nullptr || intermediate % kernels::kMoeFp8Block != 0) return false;
  const std::optional<WeightQuantization>& q = checkpoint->config().quantization;
  if (q && (q->block_rows != kernels::kMoeFp8Block || q->block_cols != kernels::kMoeFp8Block))
    return false;
  const absl::StatusOr<Tensor> t = checkpoint->Get(weight);
  return t.ok() && t->dtype() == DType::kFP8E4M3 && checkpoint->Has(weight + "_scale_inv");
}

// One expert's rows: gate then up of gate_up, and down. `e` < 0: a single MLP named prefix +
// gate/up/down; otherwise prefix + "<e>." + gate/up/down (prefix ends in "experts."), drawn
// (random weights) where expert e's rows sit in the whole model's stack.
struct ExpertParts {
  std::vector<RowPart> gate_up, down;
};

ExpertParts PartsOf(const std::string& prefix, const ExpertNames& names, int32_t e, int64_t hidden,
                    int64_t intermediate) {
  const std::string p = e >= 0 ? absl::StrCat(prefix, e, ".") : prefix;
  const int64_t at = std::max(e, 0);
  return {.gate_up = {{p + names.gate + ".weight", intermediate, at * 2 * intermediate},
                      {p + names.up + ".weight", intermediate}},
          .down = {{p + names.down + ".weight", hidden, at * hidden}}};
}

// The routed experts `numbered` (in that order), or, when `numbered` is empty, one MLP (see
// PartsOf).
absl::StatusOr<CudaExperts> LoadExperts(DeviceWeightSource& source, const Checkpoint* checkpoint,
                                        const std::string& prefix, const ExpertNames& names,
                                        std::span<const int32_t> numbered, int64_t hidden,
                                        int64_t intermediate, Device device) {
  std::vector<RowPart> gate_up, down;
  const int32_t single = -1;
  for (int32_t e : numbered.empty() ? std::span<const int32_t>(&single, 1) : numbered) {
    ExpertParts parts = PartsOf(prefix, names, e, hidden, intermediate);
    gate_up.insert(gate_up.end(), parts.gate_up.begin(), parts.gate_up.end());
    down.insert(down.end(), parts.down.begin(), parts.down.end());
  }
  CudaExperts experts;
  experts.count = static_cast<int32_t>(down.size());
  experts.intermediate = intermediate;
  ExpertOrigin origin{prefix, names, hidden, source.NextSeed(), source.NextSeed()};
  if (KeepFp8(checkpoint, gate_up.front().name, intermediate)) {
    experts.format = kernels::MoeWeightFormat::kFp8Block128;
    SY_ASSIGN_OR_RETURN(auto gu, source.Fp8Rows(gate_up, hidden));
    SY_ASSIGN_OR_RETURN(auto dn, source.Fp8Rows(down, intermediate));
    experts.gate_up = std::move(gu.first);
    experts.gate_up_scales = std::move(gu.second);
    experts.down = std::move(dn.first);
    experts.down_scales = std::move(dn.second);
  } else {
    SY_ASSIGN_OR_RETURN(experts.gate_up, source.Bf16Rows(gate_up, hidden, origin.gate_up_seed));
    SY_ASSIGN_OR_RETURN(experts.down, source.Bf16Rows(down, intermediate, origin.down_seed));
  }
  if (!numbered.empty()) experts.origin = std::move(origin);
  SY_ASSIGN_OR_RETURN(experts.pointers, ExpertPointers(experts, device));
  return experts;
}

absl::Status LoadMlaAttention(DeviceWeightSource& source, const ModelConfig& c,
                              const std::string& a, CudaLayerWeights& layer) {
  const MlaConfig& m = *c.mla;
  const int64_t h = c.hidden_size, heads = c.num_attention_heads, qk = heads * m.qk_head_dim(),
                latent = m.kv_lora_rank + m.qk_rope_head_dim;
  CudaMlaWeights w;
  if (m.q_lora_rank > 0) {
    SY_ASSIGN_OR_RETURN(w.q_a, source.Bf16Rows({{a + "q_a_proj.weight", m.q_lora_rank}}, h));
    if (c.attention_bias) {
      SY_ASSIGN_OR_RETURN(w.q_a_bias, source.F32(a + "q_a_proj.bias", {m.q_lora_rank}, 0.0f));
    }
    SY_ASSIGN_OR_RETURN(w.q_a_norm, source.F32(a + "q_a_layernorm.weight", {m.q_lora_rank}, 1.0f));
    SY_ASSIGN_OR_RETURN(w.q, source.Bf16Rows({{a + "q_b_proj.weight", qk}}, m.q_lora_rank));
  } else {
    SY_ASSIGN_OR_RETURN(w.q, source.Bf16Rows({{a + "q_proj.weight", qk}}, h));
  }
  SY_ASSIGN_OR_RETURN(w.kv_a, source.Bf16Rows({{a + "kv_a_proj_with_mqa.weight", latent}}, h));
  if (c.attention_bias) {
    SY_ASSIGN_OR_RETURN(w.kv_a_bias, source.F32(a + "kv_a_proj_with_mqa.bias", {latent}, 0.0f));
  }
  SY_ASSIGN_OR_RETURN(w.kv_a_norm, source.F32(a + "kv_a_layernorm.weight", {m.kv_lora_rank}, 1.0f));
  SY_ASSIGN_OR_RETURN(
      w.kv_b,
      source.Bf16Rows({{a + "kv_b_proj.weight", heads * (m.qk_nope_head_dim + m.v_head_dim)}},
                      m.kv_lora_rank));
  SY_ASSIGN_OR_RETURN(layer.o, source.Bf16Rows({{a + "o_proj.weight", h}}, heads * m.v_head_dim));
  if (c.attention_bias) {
    SY_ASSIGN_OR_RETURN(layer.o_bias, source.F32(a + "o_proj.bias", {h}, 0.0f));
  }
  layer.mla = std::move(w);
  return absl::OkStatus();
}

absl::Status LoadAttention(DeviceWeightSource& source, const ModelConfig& c, const std::string& p,
                           CudaLayerWeights& layer) {
  if (c.mla) return LoadMlaAttention(source, c, p + "self_attn.", layer);
  const int64_t h = c.hidden_size, hd = c.head_dim, q = c.num_attention_heads * hd,
                kv = c.num_key_value_heads * hd;
  const std::string a = p + "self_attn.";
  SY_ASSIGN_OR_RETURN(
      layer.qkv,
      source.Bf16Rows(
          {{a + "q_proj.weight", q}, {a + "k_proj.weight", kv}, {a + "v_proj.weight", kv}}, h));
  if (c.attention_bias) {
    SY_ASSIGN_OR_RETURN(layer.qkv_bias,
                        source.F32({a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
                                   {{q}, {kv}, {kv}}, 0.0f));
  }
  if (c.qk_norm != QkNorm::kNone) {
    const bool per_head = c.qk_norm == QkNorm::kPerHead;
    SY_ASSIGN_OR_RETURN(layer.q_norm, source.F32(a + "q_norm.weight", {per_head ? hd : q}, 1.0f));
    SY_ASSIGN_OR_RETURN(layer.k_norm, source.F32(a + "k_norm.weight", {per_head ? hd : kv}, 1.0f));
  }
  SY_ASSIGN_OR_RETURN(layer.o, source.Bf16Rows({{a + "o_proj.weight", h}}, q));
  if (c.architecture == Architecture::kGptOss) {
    SY_ASSIGN_OR_RETURN(layer.o_bias, source.F32(a + "o_proj.bias", {h}, 0.0f));
    SY_ASSIGN_OR_RETURN(layer.sinks, source.F32(a + "sinks", {c.num_attention_heads}, 0.0f));
  }
  return absl::OkStatus();
}

// Rows `held` of host f32 [E, cols], in that order.
absl::StatusOr<Tensor> HeldRows(const Tensor& all, std::span<const int32_t> held) {
  const int64_t cols = all.dim(1);
  SY_ASSIGN_OR_RETURN(Tensor out,
                      Tensor::Empty({static_cast<int64_t>(held.size()), cols}, DType::kF32));
  for (size_t i = 0; i < held.size(); ++i) {
    std::copy_n(all.data<float>() + held[i] * cols, cols, out.data<float>() + i * cols);
  }
  return out;
}

// gpt-oss's MoE block: a router with a bias, and fused experts with biases and the clamped
// SwiGLU, of which this process holds `held` (in slot order). From a checkpoint,
// LoadGptOssMoeWeights decodes both published layouts (bf16, MXFP4) on the host; the held
// experts then go up in bf16.
absl::Status LoadGptOssMlp(DeviceWeightSource& source, const Checkpoint* checkpoint,
                           const ModelConfig& c, int64_t index, std::span<const int32_t> held,
                           Device device, CudaLayerWeights& layer) {
  const int64_t h = c.hidden_size, inter = c.expert_intermediate_size(), e = c.num_experts;
  const auto count = static_cast<int64_t>(held.size());
  const ExpertNames n = ExpertNaming(c.architecture, index);
  CudaExperts& experts = layer.mlp;
  experts.count = static_cast<int32_t>(count);
  experts.intermediate = inter;
  experts.activation = kernels::MoeActivation::kClampedSwiglu;
  experts.swiglu_limit = static_cast<float>(c.swiglu_limit);
  const std::string router = n.prefix + n.router;
  if (checkpoint == nullptr) {
    SY_ASSIGN_OR_RETURN(layer.router, source.F32Rows(router + ".weight", e, h));
    SY_ASSIGN_OR_RETURN(layer.router_logit_bias, source.F32(router + ".bias", {e}, 0.0f));
    // Each held expert drawn where its rows sit in the fused [E * 2I, H] and [E * H, I] stacks.
    std::vector<RowPart> gate_up, down;
    for (int32_t x : held) {
      gate_up.push_back({n.prefix + "experts.gate_up_proj", 2 * inter, x * 2 * inter});
      down.push_back({n.prefix + "experts.down_proj", h, x * h});
    }
    SY_ASSIGN_OR_RETURN(experts.gate_up, source.Bf16Rows(gate_up, h));
    SY_ASSIGN_OR_RETURN(experts.down, source.Bf16Rows(down, inter));
    SY_ASSIGN_OR_RETURN(experts.gate_up_bias, source.F32(n.prefix + "experts.gate_up_proj_bias",
                                                         {count, 2 * inter}, 0.0f));
    SY_ASSIGN_OR_RETURN(experts.down_bias,
                        source.F32(n.prefix + "experts.down_proj_bias", {count, h}, 0.0f));
  } else {
    SY_ASSIGN_OR_RETURN(MoeWeights w, LoadGptOssMoeWeights(*checkpoint, index));
    SY_ASSIGN_OR_RETURN(layer.router, source.F32FromHost(w.router, router + ".weight"));
    SY_ASSIGN_OR_RETURN(layer.router_logit_bias,
                        source.F32FromHost(*w.router_bias, router + ".bias"));
    std::vector<Tensor> gate_up, down;
    for (int32_t x : held) {
      gate_up.push_back(w.gate_up[x]);
      down.push_back(w.down[x]);
    }
    SY_ASSIGN_OR_RETURN(experts.gate_up, source.Bf16FromHost(gate_up, h, n.prefix + "experts"));
    SY_ASSIGN_OR_RETURN(experts.down, source.Bf16FromHost(down, inter, n.prefix + "experts"));
    SY_ASSIGN_OR_RETURN(const Tensor gate_up_bias, HeldRows(*w.gate_up_bias, held));
    SY_ASSIGN_OR_RETURN(const Tensor down_bias, HeldRows(*w.down_bias, held));
    SY_ASSIGN_OR_RETURN(experts.gate_up_bias,
                        source.F32FromHost(gate_up_bias, n.prefix + "experts.gate_up_proj_bias"));
    SY_ASSIGN_OR_RETURN(experts.down_bias,
                        source.F32FromHost(down_bias, n.prefix + "experts.down_proj_bias"));
    experts.swiglu_alpha = w.swiglu_alpha;
    experts.swiglu_limit = w.swiglu_limit;
  }
  SY_ASSIGN_OR_RETURN(experts.pointers, ExpertPointers(experts, device));
  return absl::OkStatus();
}

// `routed_experts`: the experts this process holds, in slot order (all of them without expert
// parallelism).
absl::Status LoadMlp(DeviceWeightSource& source, const Checkpoint* checkpoint, const ModelConfig& c,
                     int64_t index, std::span<const int32_t> routed_experts, Device device,
                     CudaLayerWeights& layer) {
  const int64_t h = c.hidden_size;
  if (!c.IsMoeLayer(index)) {
    const ExpertNames dense{absl::StrCat("model.layers.", index, ".mlp."), "", "gate_proj",
                            "up_proj", "down_proj"};
    SY_ASSIGN_OR_RETURN(layer.mlp, LoadExperts(source, checkpoint, dense.prefix, dense, {}, h,
                                               c.intermediate_size, device));
    return absl::OkStatus();
  }
  const ExpertNames n = ExpertNaming(c.architecture, index);
  SY_ASSIGN_OR_RETURN(layer.router,
                      source.F32Rows(n.prefix + n.router + ".weight", c.num_experts, h));
  if (c.architecture == Architecture::kDeepseekV3) {
    SY_ASSIGN_OR_RETURN(
        layer.router_bias,
        source.F32(n.prefix + n.router + ".e_score_correction_bias", {c.num_experts}, 0.0f));
  }
  SY_ASSIGN_OR_RETURN(layer.mlp,
                      LoadExperts(source, checkpoint, n.prefix + "experts.", n, routed_experts, h,
                                  c.expert_intermediate_size(), device));
  // DeepSeek's n_shared_experts run as one MLP of n_shared_experts times the expert width.
  const int64_t shared = c.shared_expert_intermediate_size > 0
                             ? c.shared_expert_intermediate_size
                             : c.n_shared_experts * c.expert_intermediate_size();
  if (shared > 0) {
    SY_ASSIGN_OR_RETURN(layer.shared, LoadExperts(source, checkpoint, n.prefix + n.shared, n, {}, h,
                                                  shared, device));
  }
  if (c.shared_expert_intermediate_size > 0) {
    // Qwen2-MoE's gate is a [1, H] linear; random weights start it at 0 (sigmoid 1/2).
    SY_ASSIGN_OR_RETURN(layer.shared_gate,
                        source.F32(n.prefix + "shared_expert_gate.weight", {1, h}, 0.0f));
  }
  return absl::OkStatus();
}

// The experts of MoE layer `moe_index` this process holds, in slot order: all of them, or under
// expert parallelism its rank's slots of the placement.
absl::StatusOr<std::vector<int32_t>> ExpertsHeld(const ModelConfig& c,
                                                 const CudaNetworkOptions& options,
                                                 int32_t moe_index) {
  std::vector<int32_t> held;
  if (!options.expert_parallel) {
    for (int32_t e = 0; e < c.num_experts; ++e) held.push_back(e);
    return held;
  }
  const ExpertParallelism& ep = *options.expert_parallel;
  const int32_t spr = ep.placement->shape().slots_per_rank;
  for (int32_t slot = ep.rank() * spr; slot < (ep.rank() + 1) * spr; ++slot) {
    const int32_t e = ep.placement->expert(moe_index, slot);
    if (e < 0 || e >= c.num_experts) {
      return absl::InternalError(absl::StrCat("the placement gives slot ", slot, " of MoE layer ",
                                              moe_index, " expert ", e));
    }
    held.push_back(e);
  }
  return held;
}

}  // namespace

kernels::MoeWeightsView CudaExperts::View() const {
  const void* const* p = pointers.data<const void*>();
  kernels::MoeWeightsView view{p, p + count};
  view.gate_up_bias = gate_up_bias ? gate_up_bias->data<float>() : nullptr;
  view.down_bias = down_bias ? down_bias->data<float>() : nullptr;
  view.activation = activation;
  view.swiglu_alpha = swiglu_alpha;
  view.swiglu_limit = swiglu_limit;
  view.format = format;
  if (gate_up_scales) {
    const auto* scales = reinterpret_cast<const float* const*>(p + 2 * count);
    view.gate_up_scales = scales;
    view.down_scales = scales + count;
  }
  return view;
}

kernels::MoePlan CudaExperts::Plan(const kernels::MoeProblem& problem) const {
  kernels::MoePlanOptions options;
  options.format = format;
  return kernels::PlanMoe(problem, options);
}

absl::StatusOr<CudaWeights> LoadCudaWeights(const ModelConfig& c, const Checkpoint* checkpoint,
                                            const CudaNetworkOptions& options, Device device,
                                            void* stream) {
  if ((checkpoint == nullptr) != options.random_weights) {
    return absl::InvalidArgumentError("the GPU model loads a checkpoint or random weights");
  }
  DeviceWeightSource source(checkpoint, options.seed, device, stream);
  const int64_t h = c.hidden_size;
  CudaWeights w;
  SY_ASSIGN_OR_RETURN(w.embed, source.Bf16Rows({{"model.embed_tokens.weight", c.vocab_size}}, h));
  SY_ASSIGN_OR_RETURN(w.final_norm, source.F32("model.norm.weight", {h}, 1.0f));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    SY_ASSIGN_OR_RETURN(w.lm_head, source.Bf16Rows({{"lm_head.weight", c.vocab_size}}, h));
  }
  int32_t moe_index = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    std::vector<int32_t> routed_experts;
    if (c.IsMoeLayer(i)) {
      SY_ASSIGN_OR_RETURN(routed_experts, ExpertsHeld(c, options, moe_index++));
    }
    CudaLayerWeights layer;
    SY_ASSIGN_OR_RETURN(layer.input_norm, source.F32(p + "input_layernorm.weight", {h}, 1.0f));
    SY_ASSIGN_OR_RETURN(layer.post_norm,
                        source.F32(p + "post_attention_layernorm.weight", {h}, 1.0f));
    SY_RETURN_IF_ERROR(LoadAttention(source, c, p, layer));
    if (c.architecture == Architecture::kGptOss) {
      SY_RETURN_IF_ERROR(LoadGptOssMlp(source, checkpoint, c, i, routed_experts, device, layer));
    } else {
      SY_RETURN_IF_ERROR(LoadMlp(source, checkpoint, c, i, routed_experts, device, layer));
    }
    w.layers.push_back(std::move(layer));
    if (options.progress) options.progress(i + 1, c.num_hidden_layers);
  }
  SY_RETURN_IF_ERROR(
      CudaCheck(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "loading weights"));
  w.bytes = source.bytes();
  return w;
}

absl::Status RefillExpertSlots(const Checkpoint* checkpoint, std::span<const SlotRefill> refills,
                               CudaExperts& experts, Device device, void* stream) {
  if (!experts.origin) {
    return absl::InternalError("re-filling expert slots of a stack without a known origin");
  }
  const ExpertOrigin& o = *experts.origin;
  const int64_t h = o.hidden, inter = experts.intermediate;
  DeviceWeightSource source(checkpoint, 0, device, stream);
  for (const SlotRefill& r : refills) {
    if (r.slot < 0 || r.slot >= experts.count) {
      return absl::InternalError(absl::StrCat("re-filling slot ", r.slot, " of ", experts.count));
    }
    const ExpertParts parts = PartsOf(o.prefix, o.names, r.expert, h, inter);
    if (experts.format == kernels::MoeWeightFormat::kFp8Block128) {
      SY_RETURN_IF_ERROR(
          source.FillFp8Rows(experts.gate_up, *experts.gate_up_scales, r.slot * 2 * inter,
                             r.slot * Fp8ScaleCount(parts.gate_up, h), parts.gate_up, h));
      SY_RETURN_IF_ERROR(source.FillFp8Rows(experts.down, *experts.down_scales, r.slot * h,
                                            r.slot * Fp8ScaleCount(parts.down, inter), parts.down,
                                            inter));
    } else {
      SY_RETURN_IF_ERROR(source.FillBf16Rows(experts.gate_up, r.slot * 2 * inter, parts.gate_up, h,
                                             o.gate_up_seed));
      SY_RETURN_IF_ERROR(
          source.FillBf16Rows(experts.down, r.slot * h, parts.down, inter, o.down_seed));
    }
  }
  return CudaCheck(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
                   "re-filling expert slots");
}

}  // namespace sy
