#include "core/dense/mla_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"
#include "core/tensor/matmul.h"
#include "switchyard/parallel.hpp"

namespace sy {
namespace {

absl::Status CheckArguments(const Tensor& q, const Tensor& kv_b, const MlaShape& m,
                            const KvCacheShape& s, const MlaOptions& options) {
  SY_RETURN_IF_ERROR(CheckCpuTensor(q, "MLA q", 2, {DType::kF32}));
  SY_RETURN_IF_ERROR(CheckCpuTensor(kv_b, "MLA kv_b_proj", 2, {DType::kF32}));
  if (m.heads <= 0 || m.kv_lora_rank <= 0 || m.qk_nope_head_dim <= 0 || m.qk_rope_head_dim <= 0 ||
      m.v_head_dim <= 0) {
    return absl::InvalidArgumentError("MLA: every dimension of the shape must be positive");
  }
  if (q.dim(1) != m.heads * m.qk_head_dim()) {
    return absl::InvalidArgumentError(absl::StrCat("MLA: q ", q.Describe(), " is not [n, ", m.heads,
                                                   " heads * ", m.qk_head_dim(), "]"));
  }
  if (kv_b.dim(0) != m.heads * (m.qk_nope_head_dim + m.v_head_dim) ||
      kv_b.dim(1) != m.kv_lora_rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MLA: kv_b_proj ", kv_b.Describe(), " is not [", m.heads, " heads * (", m.qk_nope_head_dim,
        " + ", m.v_head_dim, "), kv_lora_rank ", m.kv_lora_rank, "]"));
  }
  if (s.has_values || s.kv_heads != 1 || s.head_dim != m.latent_width()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MLA: the cache must be a latent cache (1 head of ", m.latent_width(), ", keys only), got ",
        s.kv_heads, " heads of ", s.head_dim, s.has_values ? " with values" : ""));
  }
  if (!(options.scale > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("MLA: scale must be positive, got ", options.scale));
  }
  return absl::OkStatus();
}

}  // namespace

KvCacheShape MlaCacheShape(const MlaShape& shape, int64_t num_layers, int64_t num_blocks,
                           int64_t block_size) {
  KvCacheShape s;
  s.num_layers = num_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.kv_heads = 1;
  s.head_dim = shape.latent_width();
  s.has_values = false;
  return s;
}

absl::StatusOr<Tensor> MlaAttention(const Tensor& q, const Tensor& kv_b, const MlaShape& m,
                                    const PagedKvCache& cache, int64_t sequence, int64_t layer,
                                    const MlaOptions& options) {
  const KvCacheShape& s = cache.shape();
  SY_RETURN_IF_ERROR(CheckArguments(q, kv_b, m, s, options));
  SY_ASSIGN_OR_RETURN(const int64_t length, cache.Length(sequence, layer));
  SY_ASSIGN_OR_RETURN(const std::vector<int32_t>* table, cache.BlockTable(sequence));
  const int64_t n = q.dim(0);
  if (n > length) {
    return absl::InvalidArgumentError(
        absl::StrCat("MLA: q ", q.Describe(), " has more rows than the ", length,
                     " tokens cached for sequence ", sequence, " layer ", layer));
  }
  const int64_t rank = m.kv_lora_rank, rope = m.qk_rope_head_dim, nope = m.qk_nope_head_dim,
                vdim = m.v_head_dim, heads = m.heads, qk = m.qk_head_dim();
  const int64_t kv_row = nope + vdim;
  // The sequence's latents and rope keys, gathered from their blocks into two dense matrices.
  SY_ASSIGN_OR_RETURN(Tensor latents, Tensor::Empty({length, rank}, DType::kF32));
  SY_ASSIGN_OR_RETURN(Tensor rope_keys, Tensor::Empty({length, rope}, DType::kF32));
  const float* cached = cache.k(layer).data<float>();
  for (int64_t j = 0; j < length; ++j) {
    const int64_t slot = (*table)[j / s.block_size] * s.block_size + j % s.block_size;
    const float* row = cached + slot * s.head_dim;
    std::memcpy(latents.data<float>() + j * rank, row, rank * sizeof(float));
    std::memcpy(rope_keys.data<float>() + j * rope, row + rank, rope * sizeof(float));
  }
  const bool absorbed = options.path == MlaPath::kAbsorbed;
  Tensor expanded;  // naive: [length, heads * (nope + v)], every token's keys and values
  if (!absorbed) {
    SY_ASSIGN_OR_RETURN(expanded, MatMulTransposed(latents, kv_b));
  }
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({n, heads * vdim}, DType::kF32));
  const float scale = static_cast<float>(options.scale);
  const float* lat = latents.data<float>();
  const float* kr = rope_keys.data<float>();
  const float* wb = kv_b.data<float>();
  ParallelFor(options.threads, heads * n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(length), q_lat(rank), o_lat(rank);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / n, i = item % n, p = length - n + i;
      const float* q_nope = q.data<float>() + i * heads * qk + h * qk;
      const float* q_rope = q_nope + nope;
      const float* w_uk = wb + h * kv_row * rank;  // [nope, rank]
      const float* w_uv = w_uk + nope * rank;      // [v, rank]
      if (absorbed) {
        std::fill(q_lat.begin(), q_lat.end(), 0.0f);
        for (int64_t d = 0; d < nope; ++d) {
          for (int64_t r = 0; r < rank; ++r) q_lat[r] += q_nope[d] * w_uk[d * rank + r];
        }
      }
      float max_score = -INFINITY;
      for (int64_t j = 0; j <= p; ++j) {
        float dot = 0;
        if (absorbed) {
          for (int64_t r = 0; r < rank; ++r) dot += q_lat[r] * lat[j * rank + r];
        } else {
          const float* k = expanded.data<float>() + (j * heads + h) * kv_row;
          for (int64_t d = 0; d < nope; ++d) dot += q_nope[d] * k[d];
        }
        for (int64_t d = 0; d < rope; ++d) dot += q_rope[d] * kr[j * rope + d];
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j <= p; ++j) sum += (scores[j] = std::exp(scores[j] - max_score));
      float* o = out.data<float>() + i * heads * vdim + h * vdim;
      std::fill(o, o + vdim, 0.0f);
      if (absorbed) {
        std::fill(o_lat.begin(), o_lat.end(), 0.0f);
        for (int64_t j = 0; j <= p; ++j) {
          const float w = scores[j] / sum;
          for (int64_t r = 0; r < rank; ++r) o_lat[r] += w * lat[j * rank + r];
        }
        for (int64_t d = 0; d < vdim; ++d) {
          float acc = 0;
          for (int64_t r = 0; r < rank; ++r) acc += w_uv[d * rank + r] * o_lat[r];
          o[d] = acc;
        }
      } else {
        for (int64_t j = 0; j <= p; ++j) {
          const float w = scores[j] / sum;
          const float* v = expanded.data<float>() + (j * heads + h) * kv_row + nope;
          for (int64_t d = 0; d < vdim; ++d) o[d] += w * v[d];
        }
      }
    }
  });
  return out;
}

}  // namespace sy
