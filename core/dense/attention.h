// Grouped-query causal attention over a sequence's paged KV cache (paged_kv_cache.h), CPU f32.
//
// Call after appending this step's k and v for `layer`: with L = cache length of that layer and
// n = q's rows, the new tokens sit at positions L - n .. L - 1, and token i (position
// p = L - n + i) attends to cache positions j <= p — and, with a sliding window w > 0, only to
// p - j < w (transformers' sliding_window: w tokens including itself). Prefill (n > 1) and
// decode (n = 1) are the same call. Query head h reads kv head h / (heads / kv_heads).
// Scores are q.k * scale, softmax in f32 with the max subtracted, then the weighted sum of V.
// With sinks (gpt-oss), head h's softmax also has a logit sinks[h] that takes probability mass
// and contributes no value (transformers' eager_attention_forward of gpt_oss).
#ifndef SWITCHYARD_CORE_DENSE_ATTENTION_H_
#define SWITCHYARD_CORE_DENSE_ATTENTION_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/dense/paged_kv_cache.h"
#include "core/tensor/tensor.h"

namespace sy {

struct AttentionOptions {
  std::optional<double> scale = std::nullopt;  // default 1 / sqrt(head_dim)
  int64_t sliding_window = 0;                  // 0: full causal attention
  std::optional<Tensor> sinks = std::nullopt;  // f32 [heads]: one extra logit per head
  int threads = 1;  // (head, token) pairs are split over this many threads
};

// q [n, heads * head_dim] f32 -> new [n, heads * head_dim] f32. heads must be a multiple of the
// cache's kv_heads, and n at most the cached length.
absl::StatusOr<Tensor> PagedAttention(const Tensor& q, int64_t heads, const PagedKvCache& cache,
                                      int64_t sequence, int64_t layer,
                                      const AttentionOptions& options = {});

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_ATTENTION_H_
