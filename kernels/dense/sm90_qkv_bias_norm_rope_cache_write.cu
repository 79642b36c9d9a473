// sm90_qkv_bias_norm_rope_cache_write: everything a GQA layer does between its qkv GEMM and
// attention, in one launch of one 128-thread CTA per (token, q or k head): the qkv bias, the q or
// k RMSNorm, RoPE, and (a k head's CTA) k and v into the paged cache as bf16. At batch 1 these
// were four launches of a few microseconds each, every one a chain of round trips to memory for
// a row of a few KiB (docs/benchmarks.md); here a thread loads its one or two values of the head
// (and of v, the bias and the norm weight) at once, keeps them in registers through the norm,
// and meets its RoPE partner through shared memory, so the whole prologue waits on memory about
// once. A norm across all heads (OLMoE) has each CTA sum the squares of the whole q or k row
// itself (8 KiB from L2) rather than wait on another CTA.
//
// The arithmetic per element is that of LaunchAddBias, LaunchRmsNormInPlace, LaunchRope and
// LaunchKvCacheWriteBF16 in turn (f32, precise sincosf of the f32 product position *
// inv_freq); a norm's sum of squares adds in another order.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kPerThread = 2;  // values of a head a thread holds
constexpr int kMaxHeadDim = kThreads * kPerThread;

struct PrologueParams {
  QkvPrologueArgs a;
  int q_width, k_width, half;
};

// The CTA's sum of `v` (every thread calls it; `partial` is reused after a barrier).
__device__ __forceinline__ float CtaSum(float v, float* partial) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();  // an earlier call's readers are done with `partial`
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) sum += partial[w];
  return sum;
}

__global__ void __launch_bounds__(kThreads)
    sm90_qkv_bias_norm_rope_cache_write(const PrologueParams p) {
  __shared__ float head_s[kMaxHeadDim], partial[kWarps];
  const QkvPrologueArgs& a = p.a;
  const int64_t t = blockIdx.x;
  const int head = static_cast<int>(blockIdx.y);  // q's heads, then k's
  const bool is_q = head < a.heads;
  const int hd = a.head_dim;
  WaitForPredecessor();  // PDL: the qkv GEMM's output
  AllowSuccessor();
  float* row = a.qkv + t * a.stride;
  const int first = head * hd;  // the head's offset in the row
  float x[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int e = threadIdx.x + j * kThreads;
    x[j] = e < hd ? row[first + e] + (a.bias != nullptr ? a.bias[first + e] : 0.0f) : 0.0f;
  }
  if (a.q_norm != nullptr) {
    const float* weight = is_q ? a.q_norm : a.k_norm;
    float sum = 0.0f;
    int width = hd, weight_at = 0;
    if (a.norm_per_head) {
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) sum += x[j] * x[j];
    } else {  // across all of q's (or k's) heads: this CTA sums the whole segment
      const int begin = is_q ? 0 : p.q_width;
      width = is_q ? p.q_width : p.k_width;
      weight_at = first - begin;
      for (int c = threadIdx.x; c < width; c += kThreads) {
        const float y = row[begin + c] + (a.bias != nullptr ? a.bias[begin + c] : 0.0f);
        sum += y * y;
      }
    }
    const float inv = 1.0f / sqrtf(CtaSum(sum, partial) / static_cast<float>(width) + a.eps);
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = threadIdx.x + j * kThreads;
      if (e < hd) x[j] = weight[weight_at + e] * (x[j] * inv);
    }
  }
  // RoPE: each rotated lane meets its partner through shared memory.
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int e = threadIdx.x + j * kThreads;
    if (e < hd) head_s[e] = x[j];
  }
  __syncthreads();
  const float position = static_cast<float>(a.positions[t]);
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int e = threadIdx.x + j * kThreads;
    if (e >= 2 * p.half) continue;  // past the rotary lanes: unchanged
    // rotate_half pairs (i, i + half); interleaved pairs (2i, 2i + 1).
    const int i = a.interleaved ? e / 2 : e % p.half;
    const bool leads = a.interleaved ? e % 2 == 0 : e < p.half;
    const int partner = a.interleaved ? e ^ 1 : (leads ? e + p.half : e - p.half);
    float s, c;
    sincosf(__fmul_rn(position, a.inv_freq[i]), &s, &c);  // never contracted: transformers' angle
    c *= a.attention_factor;
    s *= a.attention_factor;
    const float other = head_s[partner];
    x[j] = leads ? x[j] * c - other * s : x[j] * c + other * s;
  }
  if (is_q) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = threadIdx.x + j * kThreads;
      if (e < hd) row[first + e] = x[j];
    }
    return;
  }
  const int32_t slot = a.slots[t];
  if (slot < 0) return;  // a padding row owns no slot
  const int kv_head = head - a.heads;
  const int64_t at = static_cast<int64_t>(slot) * p.k_width + kv_head * hd;
  const int v_first = p.q_width + p.k_width + kv_head * hd;
  auto* k_cache = reinterpret_cast<__nv_bfloat16*>(a.k_cache);
  auto* v_cache = reinterpret_cast<__nv_bfloat16*>(a.v_cache);
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int e = threadIdx.x + j * kThreads;
    if (e >= hd) continue;
    k_cache[at + e] = __float2bfloat16_rn(x[j]);
    const float v = row[v_first + e] + (a.bias != nullptr ? a.bias[v_first + e] : 0.0f);
    v_cache[at + e] = __float2bfloat16_rn(v);
  }
}

}  // namespace

std::string LaunchQkvBiasNormRopeCacheWrite(const QkvPrologueArgs& a, void* stream) {
  if (a.tokens == 0) return "";
  const int64_t q_width = int64_t{a.heads} * a.head_dim, k_width = int64_t{a.kv_heads} * a.head_dim;
  if (a.rotary_dim <= 0 || a.rotary_dim % 2 != 0 || a.rotary_dim > a.head_dim ||
      a.head_dim > kMaxHeadDim || a.heads <= 0 || a.kv_heads <= 0 || a.heads + a.kv_heads > 65535 ||
      q_width + 2 * k_width > INT_MAX || a.tokens > INT_MAX ||
      (a.q_norm != nullptr) != (a.k_norm != nullptr)) {
    return "sm90_qkv_bias_norm_rope_cache_write: bad shape (heads " + std::to_string(a.heads) +
           ", kv_heads " + std::to_string(a.kv_heads) + ", head_dim " + std::to_string(a.head_dim) +
           ", rotary_dim " + std::to_string(a.rotary_dim) +
           "); rotary_dim must be even and at most head_dim, head_dim at most " +
           std::to_string(kMaxHeadDim) + ", and q and k norms come together";
  }
  PrologueParams p{};
  p.a = a;
  p.q_width = static_cast<int>(q_width);
  p.k_width = static_cast<int>(k_width);
  p.half = a.rotary_dim / 2;
  return Launch("sm90_qkv_bias_norm_rope_cache_write", sm90_qkv_bias_norm_rope_cache_write,
                dim3(static_cast<unsigned>(a.tokens), static_cast<unsigned>(a.heads + a.kv_heads)),
                dim3(kThreads), 0, stream, true, p);
}

}  // namespace sy::kernels
