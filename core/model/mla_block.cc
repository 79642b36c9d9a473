#include "core/model/mla_block.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/rms_norm.h"
#include "core/model/linear.h"
#include "core/model/weight_loader.h"

namespace sy {
namespace {

// transformers builds q_a_layernorm and kv_a_layernorm with DeepseekV3RMSNorm's default eps.
constexpr double kLatentNormEps = 1e-6;

// Columns [begin, begin + width) of every `stride`-wide group of x's rows, as a dense
// [T, groups * width] tensor (copy_back = false), or written back from `part` (copy_back = true).
void CopyLanes(Tensor& x, Tensor& part, int64_t stride, int64_t begin, int64_t width,
               bool copy_back) {
  const int64_t groups = x.dim(1) / stride;
  for (int64_t t = 0; t < x.dim(0); ++t) {
    for (int64_t g = 0; g < groups; ++g) {
      float* full = x.data<float>() + t * x.dim(1) + g * stride + begin;
      float* dense = part.data<float>() + (t * groups + g) * width;
      if (copy_back) {
        std::memcpy(full, dense, width * sizeof(float));
      } else {
        std::memcpy(dense, full, width * sizeof(float));
      }
    }
  }
}

// Rotates lanes [begin, begin + rope.head_dim) of each `stride`-wide head of x in place.
absl::Status RopeLanes(const RopeConfig& rope, const Tensor& positions, Tensor& x, int64_t stride,
                       int64_t begin, int threads) {
  const int64_t heads = x.dim(1) / stride;
  SY_ASSIGN_OR_RETURN(Tensor part, Tensor::Empty({x.dim(0), heads * rope.head_dim}, DType::kF32));
  CopyLanes(x, part, stride, begin, rope.head_dim, false);
  SY_RETURN_IF_ERROR(ApplyRope(rope, positions, part, heads, threads));
  CopyLanes(x, part, stride, begin, rope.head_dim, true);
  return absl::OkStatus();
}

}  // namespace

KvCacheShape MlaBlock::CacheShape(const ModelConfig& c, int64_t num_blocks, int64_t block_size) {
  const MlaShape shape{.heads = c.num_attention_heads,
                       .kv_lora_rank = c.mla->kv_lora_rank,
                       .qk_nope_head_dim = c.mla->qk_nope_head_dim,
                       .qk_rope_head_dim = c.mla->qk_rope_head_dim,
                       .v_head_dim = c.mla->v_head_dim};
  return MlaCacheShape(shape, c.num_hidden_layers, num_blocks, block_size);
}

double MlaBlock::SoftmaxScale(const ModelConfig& c) {
  double scale = 1.0 / std::sqrt(static_cast<double>(c.mla->qk_head_dim()));
  // transformers' yarn_apply_mscale: any scaled rope type with mscale_all_dim set.
  if (c.rope_scaling && c.rope_scaling->type != "default" && c.rope_scaling->mscale_all_dim != 0) {
    const double m = YarnMscale(c.rope_scaling->factor, c.rope_scaling->mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

absl::StatusOr<MlaBlock> MlaBlock::Load(const Checkpoint& ckpt, int64_t layer) {
  const ModelConfig& c = ckpt.config();
  const MlaConfig& m = *c.mla;
  const int64_t h = c.hidden_size, heads = c.num_attention_heads;
  const std::string p = absl::StrCat("model.layers.", layer, ".self_attn.");
  MlaBlock b;
  b.shape_ = {.heads = heads,
              .kv_lora_rank = m.kv_lora_rank,
              .qk_nope_head_dim = m.qk_nope_head_dim,
              .qk_rope_head_dim = m.qk_rope_head_dim,
              .v_head_dim = m.v_head_dim};
  b.scale_ = SoftmaxScale(c);
  // The compressed kv width is where a wrong kv_lora_rank shows first: say which field.
  const std::string kv_a_name = p + "kv_a_proj_with_mqa.weight";
  SY_ASSIGN_OR_RETURN(Tensor kv_a, ckpt.Get(kv_a_name));
  if (kv_a.ndim() != 2 || kv_a.dim(0) != m.kv_lora_rank + m.qk_rope_head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        ckpt.dir(), ": config.json kv_lora_rank (", m.kv_lora_rank, ") + qk_rope_head_dim (",
        m.qk_rope_head_dim, ") = ", m.kv_lora_rank + m.qk_rope_head_dim, " does not match tensor '",
        kv_a_name, "' of shape ", ShapeToString(kv_a.shape())));
  }
  const int64_t qk = m.qk_head_dim();
  if (m.q_lora_rank > 0) {
    SY_ASSIGN_OR_RETURN(b.q_a_,
                        LoadOptional(ckpt, true, p + "q_a_proj.weight", {m.q_lora_rank, h}));
    SY_ASSIGN_OR_RETURN(b.q_a_bias_,
                        LoadOptional(ckpt, c.attention_bias, p + "q_a_proj.bias", {m.q_lora_rank}));
    SY_ASSIGN_OR_RETURN(b.q_a_norm_,
                        LoadOptional(ckpt, true, p + "q_a_layernorm.weight", {m.q_lora_rank}));
    SY_ASSIGN_OR_RETURN(
        b.q_b_, LoadOptional(ckpt, true, p + "q_b_proj.weight", {heads * qk, m.q_lora_rank}));
  } else {
    SY_ASSIGN_OR_RETURN(b.q_, LoadOptional(ckpt, true, p + "q_proj.weight", {heads * qk, h}));
  }
  SY_ASSIGN_OR_RETURN(b.kv_a_, LoadF32(ckpt, kv_a_name, {m.kv_lora_rank + m.qk_rope_head_dim, h}));
  SY_ASSIGN_OR_RETURN(b.kv_a_bias_,
                      LoadOptional(ckpt, c.attention_bias, p + "kv_a_proj_with_mqa.bias",
                                   {m.kv_lora_rank + m.qk_rope_head_dim}));
  SY_ASSIGN_OR_RETURN(b.kv_a_norm_, LoadF32(ckpt, p + "kv_a_layernorm.weight", {m.kv_lora_rank}));
  SY_ASSIGN_OR_RETURN(b.kv_b_,
                      LoadF32(ckpt, p + "kv_b_proj.weight",
                              {heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank}));
  SY_ASSIGN_OR_RETURN(b.o_, LoadF32(ckpt, p + "o_proj.weight", {h, heads * m.v_head_dim}));
  SY_ASSIGN_OR_RETURN(b.o_bias_, LoadOptional(ckpt, c.attention_bias, p + "o_proj.bias", {h}));
  return b;
}

absl::StatusOr<Tensor> MlaBlock::Forward(const Tensor& x, const Tensor& positions,
                                         std::span<const SequenceRows> batch, int64_t layer,
                                         const RopeConfig& rope, PagedKvCache& cache,
                                         int threads) const {
  const MlaShape& m = shape_;
  Tensor q;
  if (q_) {
    SY_ASSIGN_OR_RETURN(q, Linear(x, *q_));
  } else {
    SY_ASSIGN_OR_RETURN(Tensor qa, Linear(x, *q_a_, q_a_bias_));
    SY_ASSIGN_OR_RETURN(qa, RmsNorm(qa, *q_a_norm_, kLatentNormEps, threads));
    SY_ASSIGN_OR_RETURN(q, Linear(qa, *q_b_));
  }
  SY_ASSIGN_OR_RETURN(Tensor latent, Linear(x, kv_a_, kv_a_bias_));  // [T, rank + rope]
  SY_ASSIGN_OR_RETURN(Tensor c, Tensor::Empty({x.dim(0), m.kv_lora_rank}, DType::kF32));
  CopyLanes(latent, c, m.latent_width(), 0, m.kv_lora_rank, false);
  SY_ASSIGN_OR_RETURN(c, RmsNorm(c, kv_a_norm_, kLatentNormEps, threads));
  CopyLanes(latent, c, m.latent_width(), 0, m.kv_lora_rank, true);
  SY_RETURN_IF_ERROR(RopeLanes(rope, positions, q, m.qk_head_dim(), m.qk_nope_head_dim, threads));
  SY_RETURN_IF_ERROR(RopeLanes(rope, positions, latent, m.latent_width(), m.kv_lora_rank, threads));

  SY_ASSIGN_OR_RETURN(Tensor a, Tensor::Empty({x.dim(0), m.heads * m.v_head_dim}, DType::kF32));
  int64_t row = 0;
  for (const SequenceRows& chunk : batch) {
    SY_ASSIGN_OR_RETURN(Tensor latent_rows, latent.SliceRows(row, row + chunk.rows));
    SY_ASSIGN_OR_RETURN(Tensor q_rows, q.SliceRows(row, row + chunk.rows));
    SY_RETURN_IF_ERROR(cache.Append(chunk.sequence, layer, latent_rows, Tensor()));
    const MlaOptions options{.scale = scale_,
                             .path = chunk.rows == 1 ? MlaPath::kAbsorbed : MlaPath::kNaive,
                             .threads = threads};
    SY_ASSIGN_OR_RETURN(Tensor out,
                        MlaAttention(q_rows, kv_b_, m, cache, chunk.sequence, layer, options));
    std::memcpy(a.data<float>() + row * a.dim(1), out.data<float>(), out.nbytes());
    row += chunk.rows;
  }
  return Linear(a, o_, o_bias_);
}

}  // namespace sy
