// DeepSeek's multi-head latent attention (MLA) over a latent paged cache, CPU f32.
//
// Per token the cache holds one "head" of kv_lora_rank + qk_rope_head_dim floats: the normalized
// compressed kv latent c (kv_a_layernorm(kv_a_proj_with_mqa(x))[:rank]) and the rotated rope key
// k_r shared by all heads — not per-head keys and values (PagedKvCache with kv_heads = 1,
// head_dim = rank + rope, has_values = false). kv_b_proj [heads * (nope + v), rank] holds, per
// head h, W_UK_h (its first nope rows) and W_UV_h (the next v rows). For query row q_h =
// [q_nope_h; q_rope_h] (q_rope_h already rotated) and cached token j:
//   score_hj = (q_nope_h . (W_UK_h c_j) + q_rope_h . k_r_j) * scale
//   out_h    = sum_j softmax(score_h)_j (W_UV_h c_j)
// computed two ways, equal up to rounding:
//   kNaive:    expands every cached token's keys and values (what transformers does);
//   kAbsorbed: folds W_UK_h into the query (q_lat_h = W_UK_h^T q_nope_h, scores against c_j
//              directly) and applies W_UV_h once after the weighted sum of latents — the decode
//              path: per step it reads rank + rope floats per cached token instead of
//              heads * (nope + v).
// Masking is causal as in attention.h: the n query rows are the last n cached positions.
#ifndef SWITCHYARD_CORE_DENSE_MLA_ATTENTION_H_
#define SWITCHYARD_CORE_DENSE_MLA_ATTENTION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/dense/paged_kv_cache.h"
#include "core/tensor/tensor.h"

namespace sy {

struct MlaShape {
  int64_t heads = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Floats cached per token and layer.
  int64_t latent_width() const { return kv_lora_rank + qk_rope_head_dim; }
};

enum class MlaPath { kNaive, kAbsorbed };

struct MlaOptions {
  double scale = 0;  // softmax scale; must be set (qk_head_dim^-0.5 times any YaRN mscale^2)
  MlaPath path = MlaPath::kAbsorbed;
  int threads = 1;
};

// The latent cache geometry for `shape`.
KvCacheShape MlaCacheShape(const MlaShape& shape, int64_t num_layers, int64_t num_blocks,
                           int64_t block_size);

// q [n, heads * qk_head_dim] f32 (rope lanes rotated), kv_b [heads * (nope + v), rank] f32 ->
// new [n, heads * v_head_dim] f32. Call after appending this step's latents for `layer`.
absl::StatusOr<Tensor> MlaAttention(const Tensor& q, const Tensor& kv_b, const MlaShape& shape,
                                    const PagedKvCache& cache, int64_t sequence, int64_t layer,
                                    const MlaOptions& options);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_MLA_ATTENTION_H_
