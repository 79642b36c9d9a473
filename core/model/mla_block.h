// DeepSeek-V3's attention block as transformers' DeepseekV3Attention computes it, over a latent
// paged cache (core/dense/mla_attention.h):
//   q      = q_b_proj(q_a_layernorm(q_a_proj(x)))   (or q_proj(x) when q_lora_rank is null)
//   [c; k_r] = kv_a_proj_with_mqa(x);  c = kv_a_layernorm(c)  (both norms use eps 1e-6)
//   rope (YaRN, interleaved unless rope_interleave = false) on q's rope lanes and k_r
//   cache [c; k_r] per token; attend; o_proj
// with softmax scale qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 under YaRN.
// Prefill chunks take the naive path (expanded keys and values), single-token decode steps the
// absorbed one.
#ifndef SWITCHYARD_CORE_MODEL_MLA_BLOCK_H_
#define SWITCHYARD_CORE_MODEL_MLA_BLOCK_H_

#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "core/dense/mla_attention.h"
#include "core/dense/paged_kv_cache.h"
#include "core/dense/rope.h"
#include "core/model/checkpoint.h"

namespace sy {

// Consecutive rows of a batched step that belong to one sequence.
struct SequenceRows {
  int64_t sequence = 0;
  int64_t rows = 0;
};

class MlaBlock {
 public:
  // Loads layer `layer`'s attention weights; a kv_lora_rank or head size that does not match the
  // tensors is an error naming the config field and the tensor.
  static absl::StatusOr<MlaBlock> Load(const Checkpoint& ckpt, int64_t layer);

  // The latent cache for a model of `config`.
  static KvCacheShape CacheShape(const ModelConfig& config, int64_t num_blocks, int64_t block_size);
  // The softmax scale of `config`.
  static double SoftmaxScale(const ModelConfig& config);

  // x [T, H] (normed hidden states of the batch) -> o_proj(attention) [T, H]. Each sequence's
  // rows append their latents to `cache` layer `layer`.
  absl::StatusOr<Tensor> Forward(const Tensor& x, const Tensor& positions,
                                 std::span<const SequenceRows> batch, int64_t layer,
                                 const RopeConfig& rope, PagedKvCache& cache, int threads) const;

 private:
  MlaShape shape_;
  double scale_ = 0;
  std::optional<Tensor> q_a_, q_a_bias_, q_a_norm_, q_b_, q_;
  Tensor kv_a_, kv_a_norm_, kv_b_, o_;
  std::optional<Tensor> kv_a_bias_, o_bias_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_MLA_BLOCK_H_
