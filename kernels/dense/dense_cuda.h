// The dense half of a decoder layer on an NVIDIA GPU: the host-side interface of the kernels in
// this folder. Plain C++ (no CUDA headers), so the core includes it with g++.
//
// Every pointer is device memory. Every launch is asynchronous on `stream` (a cudaStream_t;
// nullptr = the legacy default stream), allocates nothing and synchronises nothing, so a decode
// step made of them can be captured in a CUDA graph. The norms, RoPE, the row kernels after the
// embedding and attention launch with PDL (programmatic dependent launch): each waits for its
// predecessor's writes first thing and lets its own successor launch at once, so a chain of
// small kernels overlaps each launch with the kernel before it. Each returns "" or the CUDA error
// of the launch. Activations are f32 (the residual stream, q/k/v); GEMM inputs are bf16 (uint16_t
// bit patterns); the KV cache is bf16 in PagedKvCache's layout (core/dense/paged_kv_cache.h). The
// GEMMs themselves are cuBLAS calls made by the model (core/model/cuda_network.cc).
#ifndef SWITCHYARD_KERNELS_DENSE_DENSE_CUDA_H_
#define SWITCHYARD_KERNELS_DENSE_DENSE_CUDA_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace sy::kernels {

// out[t, :] = f32(table[ids[t], :]) for t < tokens; table bf16 [vocab, width]. An id outside
// [0, vocab) gives a row of zeros (the host checks ids before they get here).
std::string LaunchEmbeddingGatherBF16(const uint16_t* table, int64_t vocab, int64_t width,
                                      const int32_t* ids, int64_t tokens, float* out, void* stream);

// RMSNorm of `rows` rows of `width` f32 values (row r at x + r * x_stride), weight f32 [width]:
//   out = bf16(x / sqrt(mean(x^2) + eps) * weight), row r at out + r * out_stride,
// and the same values in f32 at out_f32 (same stride) when it is set: a router computes its
// logits from them. The reduction is in f32, as transformers' RMSNorm does it.
std::string LaunchRmsNormToBF16(const float* x, int64_t x_stride, int64_t rows, int64_t width,
                                const float* weight, float eps, uint16_t* out, int64_t out_stride,
                                void* stream, float* out_f32 = nullptr);

// In place, f32: each row (at x + r * row_stride) holds `groups` consecutive segments of `width`
// values, each normalised on its own with the same weight f32 [width]. Qwen3's per-head q/k norm
// is groups = heads, width = head_dim; OLMoE's norm over the whole projection is groups = 1,
// width = heads * head_dim.
std::string LaunchRmsNormInPlace(float* x, int64_t row_stride, int64_t rows, int64_t groups,
                                 int64_t width, const float* weight, float eps, void* stream);

// x[r, c] += bias[c] for c < width, row r at x + r * row_stride.
std::string LaunchAddBias(float* x, int64_t row_stride, int64_t rows, int64_t width,
                          const float* bias, void* stream);

// Rotary embedding in place on `rows` rows (row r at x + r * row_stride) of `heads` heads of
// head_dim f32 lanes, core/dense/rope.h's semantics: the first rotary_dim lanes of each head
// rotate by angle positions[r] * inv_freq[i] (f32 product, precise sincosf, like transformers),
// cos and sin multiplied by attention_factor; rotate_half pairs (i, i + rotary_dim / 2), or
// (2i, 2i + 1) when interleaved. inv_freq f32 [rotary_dim / 2], computed on the host
// (RopeInverseFrequencies), so every scaling type the CPU knows runs unchanged.
std::string LaunchRope(float* x, int64_t row_stride, int64_t rows, int64_t heads, int64_t head_dim,
                       int64_t rotary_dim, const int32_t* positions, const float* inv_freq,
                       float attention_factor, bool interleaved, void* stream);

// Everything a GQA layer does between its qkv GEMM and attention, in one launch (what
// LaunchAddBias, LaunchRmsNormInPlace on q and k, LaunchRope and LaunchKvCacheWriteBF16 do in
// turn, with the same per-element arithmetic): qkv f32 [tokens, heads + 2 kv_heads heads of
// head_dim] (row t at qkv + t * stride: q's heads, then k's, then v's)
//   1. + bias [width] when bias is set (Qwen2-MoE, gpt-oss),
//   2. q's and k's RMSNorm in place when q_norm and k_norm are set: per head (weights
//      [head_dim], Qwen3) or across all of q's or k's heads (weights [heads * head_dim], OLMoE),
//   3. RoPE on q's and k's heads, LaunchRope's semantics,
//   4. k's and v's heads as bf16 into k_cache / v_cache [slots, kv_heads * head_dim] at row
//      slots[t] (negative: a padding row, not written).
struct QkvPrologueArgs {
  float* qkv = nullptr;
  int64_t tokens = 0, stride = 0;
  int32_t heads = 0, kv_heads = 0, head_dim = 0;
  const float* bias = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  bool norm_per_head = true;
  float eps = 1e-6f;
  int32_t rotary_dim = 0;
  const int32_t* positions = nullptr;
  const float* inv_freq = nullptr;
  float attention_factor = 1.0f;
  bool interleaved = false;
  const int32_t* slots = nullptr;
  uint16_t* k_cache = nullptr;
  uint16_t* v_cache = nullptr;
};
std::string LaunchQkvBiasNormRopeCacheWrite(const QkvPrologueArgs& args, void* stream);

// Writes `tokens` rows of keys and values (f32, width = kv_heads * head_dim, row t at
// k + t * k_stride and v + t * v_stride) as bf16 into the caches [slots, width] at row slots[t]
// (slot = block * block_size + offset, as PagedKvCache numbers them); a row whose slot is
// negative (padding) writes nothing. A keys-only cache (MLA's latents) passes v and v_cache null.
std::string LaunchKvCacheWriteBF16(const float* k, int64_t k_stride, const float* v,
                                   int64_t v_stride, int64_t tokens, int64_t width,
                                   const int32_t* slots, uint16_t* k_cache, uint16_t* v_cache,
                                   void* stream);

// Causal GQA attention of `tokens` query rows over a paged bf16 cache, prefill and decode alike:
// row t belongs to sequence row_sequence[t] and sits at position row_position[t], so it attends
// to that sequence's cached positions [max(0, p - sliding_window + 1), p] (its own key and value
// already written). Query head h reads kv head h / (heads / kv_heads). Softmax in f32 with
// `scale` on the logits; with sinks (f32 [heads], gpt-oss) each head's denominator also counts
// exp(sink). Output bf16 [tokens, heads * head_dim] (the o_proj GEMM's input).
struct PagedAttentionArgs {
  const float* q = nullptr;  // f32 rows of heads * head_dim
  int64_t q_stride = 0;
  const uint16_t* k_cache = nullptr;  // bf16 [num_blocks, block_size, kv_heads, head_dim]
  const uint16_t* v_cache = nullptr;
  const int32_t* block_tables = nullptr;  // i32 [sequences, max_blocks_per_sequence]
  int32_t max_blocks_per_sequence = 0;
  const int32_t* row_sequence = nullptr;  // i32 [tokens]: a row of block_tables
  const int32_t* row_position = nullptr;  // i32 [tokens]
  int64_t tokens = 0;
  int32_t heads = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;  // <= 256, a multiple of 8
  int32_t block_size = 0;
  float scale = 1.0f;
  int32_t sliding_window = 0;    // 0: the whole history
  const float* sinks = nullptr;  // optional
  float* workspace = nullptr;    // PagedAttentionWorkspaceBytes(args) of f32 scratch
  uint16_t* out = nullptr;       // bf16 [tokens, heads * head_dim], contiguous
};
// "" when the kernel can run `args`' shape, else why not.
std::string CheckPagedAttention(const PagedAttentionArgs& args);
// Few rows split their keys over CTAs and need this much scratch (0 when nothing splits). It
// depends only on tokens, the head counts and the table width, so a captured graph keeps it.
size_t PagedAttentionWorkspaceBytes(const PagedAttentionArgs& args);
std::string LaunchPagedAttention(const PagedAttentionArgs& args, void* stream);

// DeepSeek's multi-head latent attention in its absorbed form, over a paged bf16 latent cache
// (core/dense/mla_attention.h: per token one "head" of kv_lora_rank latent lanes c, then rope_dim
// lanes of the rotated rope key k_r). The caller absorbs W_UK into the query: per head, q's
// first kv_lora_rank lanes are W_UK_h^T q_nope_h and the next rope_dim the rotated q_rope_h. Row
// t (sequence row_sequence[t], position p = row_position[t], its own latent already written)
// and head h give, over the cached positions j <= p,
//   out[t, h] = sum_j softmax_j(scale * q[t, h] . cache_j) c_j        (kv_lora_rank lanes)
// in f32, bf16 out [tokens, heads * kv_lora_rank]; W_UV is the caller's GEMM after it. Rows with
// long histories and few CTAs split their keys over CTAs and need MlaAttentionWorkspaceBytes of
// f32 scratch (0 when nothing splits; the split depends only on tokens, heads and the table
// width, so a captured graph keeps its workspace size).
struct MlaAttentionArgs {
  const float* q = nullptr;  // f32 rows of heads * (kv_lora_rank + rope_dim)
  int64_t q_stride = 0;
  const uint16_t* cache = nullptr;        // bf16 [num_blocks, block_size, kv_lora_rank + rope_dim]
  const int32_t* block_tables = nullptr;  // i32 [sequences, max_blocks_per_sequence]
  int32_t max_blocks_per_sequence = 0;
  const int32_t* row_sequence = nullptr;  // i32 [tokens]
  const int32_t* row_position = nullptr;  // i32 [tokens]
  int64_t tokens = 0;
  int32_t heads = 0;
  int32_t kv_lora_rank = 0;  // even, <= 512
  int32_t rope_dim = 0;      // even; rank + rope a multiple of 8, <= 576
  int32_t block_size = 0;
  float scale = 1.0f;
  float* workspace = nullptr;
  uint16_t* out = nullptr;
};
std::string CheckMlaAttention(const MlaAttentionArgs& args);
size_t MlaAttentionWorkspaceBytes(const MlaAttentionArgs& args);
std::string LaunchMlaAttention(const MlaAttentionArgs& args, void* stream);

// out[i, :] = x[rows[i], :] for i < n (f32, width values a row, both contiguous).
std::string LaunchGatherRowsF32(const float* x, int64_t width, const int32_t* rows, int64_t n,
                                float* out, void* stream);

// Token sampling on the device, core/runtime/sampler.h's pipeline per row: the repetition
// penalty over the row's history, temperature (0: the argmax, the lowest id among equals),
// top-k, top-p, min-p, then the draw at splitmix64(seed, step) that Sampler::Sample makes at
// that step. The same seed and step give the CPU's token unless the draw or a top-p cut lands
// within rounding of the boundary between two tokens (sums run in another order).
struct SamplingRow {
  uint64_t seed = 0;
  uint64_t step = 0;         // the position in the seed's random stream
  int32_t logits_row = 0;    // the row of `logits` this draw reads
  float temperature = 1.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  int32_t history_begin = 0;   // the row's tokens so far: history[begin, begin + length);
  int32_t history_length = 0;  // read only when repetition_penalty != 1
};
struct SampleRowsArgs {
  const float* logits = nullptr;      // f32 [rows, vocab]
  int64_t vocab = 0;                  // at most MaxSamplingVocab()
  const SamplingRow* rows = nullptr;  // [count], device memory
  int64_t count = 0;
  const int32_t* history = nullptr;
  int32_t* out = nullptr;  // i32 [count]: row i's token
};
// The largest vocabulary whose seen-token bitmap fits beside the kernel's shared state (1.5M).
int64_t MaxSamplingVocab();
std::string LaunchSampleRows(const SampleRowsArgs& args, void* stream);

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_DENSE_DENSE_CUDA_H_
