#include "core/dense/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"
#include "switchyard/parallel.hpp"

namespace sy {

absl::StatusOr<Tensor> PagedAttention(const Tensor& q, int64_t heads, const PagedKvCache& cache,
                                      int64_t sequence, int64_t layer,
                                      const AttentionOptions& options) {
  SY_RETURN_IF_ERROR(CheckCpuTensor(q, "Attention q", 2, {DType::kF32}));
  SY_ASSIGN_OR_RETURN(const int64_t length, cache.Length(sequence, layer));
  SY_ASSIGN_OR_RETURN(const std::vector<int32_t>* table, cache.BlockTable(sequence));
  const KvCacheShape& s = cache.shape();
  if (!s.has_values) {
    return absl::InvalidArgumentError(
        "Attention: the cache holds keys only (a latent cache); use MlaAttention");
  }
  if (heads <= 0 || heads % s.kv_heads != 0 || q.dim(1) != heads * s.head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Attention: q ", q.Describe(), " is not [n, ", heads, " heads * head_dim ", s.head_dim,
        "], or ", heads, " heads is not a multiple of ", s.kv_heads, " kv heads"));
  }
  const int64_t n = q.dim(0);
  if (n > length) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attention: q ", q.Describe(), " has more rows than the ", length,
                     " tokens cached for sequence ", sequence, " layer ", layer));
  }
  if (options.sliding_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attention: sliding_window must be >= 0, got ", options.sliding_window));
  }
  if (options.sinks) {
    SY_RETURN_IF_ERROR(CheckCpuTensor(*options.sinks, "Attention sinks", 1, {DType::kF32}));
    if (options.sinks->dim(0) != heads) {
      return absl::InvalidArgumentError(absl::StrCat("Attention: sinks ", options.sinks->Describe(),
                                                     " must be f32[", heads, "], one per head"));
    }
  }
  const float* sinks = options.sinks ? options.sinks->data<float>() : nullptr;
  const int64_t head_dim = s.head_dim;
  const int64_t group = heads / s.kv_heads;
  const float scale =
      static_cast<float>(options.scale.value_or(1.0 / std::sqrt(static_cast<double>(head_dim))));
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(q.shape(), DType::kF32));
  const float* kd = cache.k(layer).data<float>();
  const float* vd = cache.v(layer).data<float>();
  // The element where token j's kv head `kvh` starts in this layer's K or V.
  auto offset = [&](int64_t j, int64_t kvh) {
    const int64_t slot = (*table)[j / s.block_size] * s.block_size + j % s.block_size;
    return (slot * s.kv_heads + kvh) * head_dim;
  };
  ParallelFor(options.threads, heads * n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(length);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / n;
      const int64_t i = item % n;
      const int64_t kvh = h / group;
      const int64_t p = length - n + i;
      const int64_t first =
          options.sliding_window > 0 ? std::max<int64_t>(0, p - options.sliding_window + 1) : 0;
      const float* qv = q.data<float>() + i * heads * head_dim + h * head_dim;
      float max_score = sinks != nullptr ? sinks[h] : -INFINITY;
      for (int64_t j = first; j <= p; ++j) {
        const float* kv = kd + offset(j, kvh);
        float dot = 0;
        for (int64_t d = 0; d < head_dim; ++d) dot += qv[d] * kv[d];
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float sum = sinks != nullptr ? std::exp(sinks[h] - max_score) : 0.0f;
      for (int64_t j = first; j <= p; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      float* o = out.data<float>() + i * heads * head_dim + h * head_dim;
      std::fill(o, o + head_dim, 0.0f);
      for (int64_t j = first; j <= p; ++j) {
        const float w = scores[j] / sum;
        const float* vv = vd + offset(j, kvh);
        for (int64_t d = 0; d < head_dim; ++d) o[d] += w * vv[d];
      }
    }
  });
  return out;
}

}  // namespace sy
