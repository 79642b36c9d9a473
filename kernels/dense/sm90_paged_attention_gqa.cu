// sm90_paged_attention_gqa: causal GQA attention over the paged bf16 KV cache, one kernel for
// prefill and decode rows alike.
//
// One CTA per (query row, kv head, chunk of up to 8 of the kv head's query heads): the CTA reads
// each of its keys and values once for all kHeads query heads, which is what decode is bound by.
// Its 8 warps take interleaved runs of keys; within a warp, groups of kLanes lanes each hold one
// key, a lane owning 8 head_dim lanes (one 16-byte load of K and one of V), so a warp reads
// 32 / kLanes keys at a time and kTile of those in a row before it rescales. Each lane group
// keeps an online softmax per head in f32 (in log2 units: q is pre-scaled by scale * log2 e);
// the groups of a warp merge by shuffles, the warps through shared memory in warp order, so the
// result does not depend on timing. q sits in shared memory (its lanes would cost kHeads * 8
// registers next to the kHeads * 8 accumulators) and that buffer collects the output at the end.
//
// Few rows (decode at small batch) would run only rows * kv_heads CTAs, so their keys are split
// over CTAs, FlashDecoding-style: the launch's split count depends only on the row and head
// counts (a captured graph stays valid as sequences grow); each row's own history is cut into
// that many runs of at least kMinSplitKeys keys, so a short one takes few. A split writes its
// unnormalised state (acc, max, sum) to the workspace and sm90_paged_attention_merge_splits
// combines them in split order (deterministic), sinks included. At batch 1 with 256 cached keys
// Mixtral's attention took 15.5 us on 8 CTAs before the split. Few rows also deal a group's query
// heads over more CTAs (CtaHeads): Qwen3-30B-A3B's groups of 8 heads took 14.9 us a batch-1 layer
// in one CTA a group, 5.8 us in CTAs of one head.
//
// Not done: prefill re-reads K/V per row (from L2) and uses no tensor cores.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxHeadDim = 256;
constexpr int kMaxCtaHeads = 8;
constexpr int kMinSplitKeys = 64;  // one pass of the 8 warps over a split
constexpr int kMaxSplits = 32;
constexpr int kMergeThreads = 128;
constexpr float kLog2e = 1.4426950408889634f;

struct AttentionParams {
  const float* q;
  int64_t q_stride;
  const __nv_bfloat16* k_cache;
  const __nv_bfloat16* v_cache;
  const int32_t* block_tables;
  int64_t max_blocks;
  const int32_t* row_sequence;
  const int32_t* row_position;
  int heads;
  int kv_heads;
  int head_dim;
  int block_size;
  int group;   // query heads per kv head
  int chunks;  // CTAs per (row, kv head): ceil(group / kHeads)
  float scale_log2;
  int sliding_window;
  const float* sinks;
  int splits;
  float* workspace;  // splits > 1: [tokens, splits, heads, head_dim + 2] (acc, max, sum)
  __nv_bfloat16* out;
};

__device__ __forceinline__ void UnpackBf16x8(const uint4& raw, float (&f)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// Split `split`'s state of (row, head h) in the workspace: head_dim accumulators, max, sum.
__device__ __forceinline__ float* SplitState(const AttentionParams& p, int64_t row, int split,
                                             int h) {
  return p.workspace + ((row * p.splits + split) * p.heads + h) * (p.head_dim + 2);
}

// kHeads: query heads per CTA (1, 2, 4 or 8). kLanes: lanes per key, a power of two >= D / 8.
template <int kHeads, int kLanes>
__global__ void __launch_bounds__(kThreads, 1) sm90_paged_attention_gqa(AttentionParams p) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  constexpr int kKeysPerWarp = 32 / kLanes;
  // Keys per lane group between rescales: 2 * kTile 16-byte loads in flight per lane. Each key
  // costs 16 registers of unpacked K and V; with kHeads = 8 this is 234 registers, no spills.
  constexpr int kTile = 4;
  constexpr int kWarpKeys = kKeysPerWarp * kTile;

  __shared__ __align__(16) float qo_s[kHeads * kMaxHeadDim];  // scaled q, then the output
  __shared__ float m_s[kWarps][kHeads], l_s[kWarps][kHeads];

  const int64_t row = blockIdx.x;
  const int split = blockIdx.z;
  const int kv_head = blockIdx.y / p.chunks;
  const int head0 = kv_head * p.group + (blockIdx.y % p.chunks) * kHeads;
  const int count = min(kHeads, kv_head * p.group + p.group - head0);
  const int dim = p.head_dim;

  const float* q = p.q + row * p.q_stride + static_cast<int64_t>(head0) * dim;
  for (int i = threadIdx.x; i < kHeads * dim; i += kThreads)
    qo_s[i] = i < count * dim ? q[i] * p.scale_log2 : 0.0f;
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int key_in_warp = lane / kLanes, sub = lane % kLanes;
  const bool has_chunk = sub * 8 < dim;  // lanes past D / 8 only join the shuffles
  const int32_t position = p.row_position[row];
  const int32_t from = p.sliding_window > 0 ? max(0, position - p.sliding_window + 1) : 0;
  // This split's run of the row's keys [from, position]; splits past the active ones have none.
  const int32_t keys = position - from + 1;
  const int32_t active = min(p.splits, (keys + kMinSplitKeys - 1) / kMinSplitKeys);
  const int32_t per_split = (keys + active - 1) / active;
  const int32_t first = from + split * per_split;
  const int32_t last = min(position, first + per_split - 1);
  const int32_t* table = p.block_tables + p.row_sequence[row] * p.max_blocks;
  const int64_t slot_stride = static_cast<int64_t>(p.kv_heads) * dim;
  const int64_t lane_offset = static_cast<int64_t>(kv_head) * dim + sub * 8;
  const unsigned block_size = static_cast<unsigned>(p.block_size);

  float m[kHeads], l[kHeads], acc[kHeads][8];
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[h][e] = 0.0f;
  }

  // The loop bounds are warp-uniform, so every lane reaches every shuffle.
  for (int32_t base = first + warp * kWarpKeys; base <= last; base += kWarps * kWarpKeys) {
    float kf[kTile][8], vf[kTile][8];
    bool valid[kTile];
#pragma unroll
    for (int t = 0; t < kTile; ++t) {
      const int32_t j = base + t * kKeysPerWarp + key_in_warp;
      valid[t] = j <= last;
      // Past the end, read the last key again (in bounds) and mask its score.
      const unsigned jc = static_cast<unsigned>(min(j, last));
      const int64_t slot =
          static_cast<int64_t>(table[jc / block_size]) * block_size + jc % block_size;
      uint4 k_raw = make_uint4(0, 0, 0, 0), v_raw = make_uint4(0, 0, 0, 0);
      if (has_chunk) {
        k_raw = LoadShared16(p.k_cache + slot * slot_stride + lane_offset);
        v_raw = LoadShared16(p.v_cache + slot * slot_stride + lane_offset);
      }
      UnpackBf16x8(k_raw, kf[t]);
      UnpackBf16x8(v_raw, vf[t]);
    }
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      float qv[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (has_chunk) {
        const float4 a = *reinterpret_cast<const float4*>(&qo_s[h * dim + sub * 8]);
        const float4 b = *reinterpret_cast<const float4*>(&qo_s[h * dim + sub * 8 + 4]);
        qv[0] = a.x, qv[1] = a.y, qv[2] = a.z, qv[3] = a.w;
        qv[4] = b.x, qv[5] = b.y, qv[6] = b.z, qv[7] = b.w;
      }
      float s[kTile];
      float tile_max = -INFINITY;
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) dot += qv[e] * kf[t][e];
#pragma unroll
        for (int off = kLanes / 2; off > 0; off /= 2) dot += __shfl_xor_sync(~0u, dot, off);
        s[t] = valid[t] ? dot : -INFINITY;
        tile_max = fmaxf(tile_max, s[t]);
      }
      const float m_new = fmaxf(m[h], tile_max);
      // All -inf (no key seen yet): any finite reference makes every weight 0, not NaN.
      const float ref = m_new == -INFINITY ? 0.0f : m_new;
      const float correction = exp2f(m[h] - ref);
      float sum = 0.0f;
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        s[t] = exp2f(s[t] - ref);
        sum += s[t];
      }
      l[h] = l[h] * correction + sum;
      m[h] = m_new;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        float a = acc[h][e] * correction;
#pragma unroll
        for (int t = 0; t < kTile; ++t) a += s[t] * vf[t][e];
        acc[h][e] = a;
      }
    }
  }

  // Merge the warp's lane groups (lanes kLanes apart hold the same head_dim lanes).
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    float mw = m[h];
#pragma unroll
    for (int off = kLanes; off < 32; off *= 2) mw = fmaxf(mw, __shfl_xor_sync(~0u, mw, off));
    const float f = exp2f(m[h] - (mw == -INFINITY ? 0.0f : mw));
    float lw = l[h] * f;
#pragma unroll
    for (int off = kLanes; off < 32; off *= 2) lw += __shfl_xor_sync(~0u, lw, off);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      float a = acc[h][e] * f;
#pragma unroll
      for (int off = kLanes; off < 32; off *= 2) a += __shfl_xor_sync(~0u, a, off);
      acc[h][e] = a;
    }
    m[h] = mw;
    l[h] = lw;
  }
  if (lane == 0) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) m_s[warp][h] = m[h], l_s[warp][h] = l[h];
  }
  __syncthreads();  // also: every warp is done reading q from qo_s

  // This warp's share of each head's output: 2^(m_w - M) / (sum over warps + the sink), or for
  // a split, 2^(m_w - M) alone, its state carrying M and the sum.
  float factor[kHeads];
  const bool whole = p.splits == 1;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    const float sink =
        whole && p.sinks != nullptr && h < count ? p.sinks[head0 + h] * kLog2e : -INFINITY;
    float mx = sink;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, m_s[w][h]);
    const float ref = mx == -INFINITY ? 0.0f : mx;
    float denominator = exp2f(sink - ref);
#pragma unroll
    for (int w = 0; w < kWarps; ++w) denominator += l_s[w][h] * exp2f(m_s[w][h] - ref);
    factor[h] =
        whole ? (denominator > 0.0f ? exp2f(m[h] - ref) / denominator : 0.0f) : exp2f(m[h] - ref);
    if (!whole && threadIdx.x == 0 && h < count) {
      float* state = SplitState(p, row, split, head0 + h);
      state[dim] = mx;
      state[dim + 1] = denominator;
    }
  }
  for (int w = 0; w < kWarps; ++w) {
    if (warp == w && lane < kLanes && has_chunk) {
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          float* o = &qo_s[h * dim + sub * 8 + e];
          const float v = acc[h][e] * factor[h];
          *o = w == 0 ? v : *o + v;
        }
      }
    }
    __syncthreads();
  }

  if (whole) {
    __nv_bfloat16* out = p.out + (row * p.heads + head0) * dim;
    for (int i = threadIdx.x; i < count * dim; i += kThreads) out[i] = __float2bfloat16_rn(qo_s[i]);
    return;
  }
  for (int i = threadIdx.x; i < count * dim; i += kThreads)
    SplitState(p, row, split, head0 + i / dim)[i % dim] = qo_s[i];
}

// One CTA per (row, head), the splits in order: out = (sum_s acc_s 2^(m_s - M)) /
// (2^(sink - M) + sum_s l_s 2^(m_s - M)), M the largest of the sink and the m_s.
__global__ void __launch_bounds__(kMergeThreads)
    sm90_paged_attention_merge_splits(AttentionParams p) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const int64_t row = blockIdx.x;
  const int h = blockIdx.y, dim = p.head_dim;
  const float sink = p.sinks != nullptr ? p.sinks[h] * kLog2e : -INFINITY;
  float mx = sink;
  for (int s = 0; s < p.splits; ++s) mx = fmaxf(mx, SplitState(p, row, s, h)[dim]);
  const float ref = mx == -INFINITY ? 0.0f : mx;
  float denominator = exp2f(sink - ref);
  for (int s = 0; s < p.splits; ++s) {
    const float* state = SplitState(p, row, s, h);
    if (state[dim + 1] > 0.0f) denominator += state[dim + 1] * exp2f(state[dim] - ref);
  }
  const float inv = denominator > 0.0f ? 1.0f / denominator : 0.0f;
  for (int d = threadIdx.x; d < dim; d += kMergeThreads) {
    float v = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
      const float* state = SplitState(p, row, s, h);
      if (state[dim + 1] > 0.0f) v += state[d] * exp2f(state[dim] - ref);
    }
    p.out[(row * p.heads + h) * dim + d] = __float2bfloat16_rn(v * inv);
  }
}

template <int kHeads, int kLanes>
std::string LaunchShape(const AttentionParams& p, int64_t tokens, void* stream) {
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(p.kv_heads * p.chunks),
                  static_cast<unsigned>(p.splits));
  if (std::string err = Launch("sm90_paged_attention_gqa", sm90_paged_attention_gqa<kHeads, kLanes>,
                               grid, dim3(kThreads), 0, stream, true, p);
      !err.empty() || p.splits == 1) {
    return err;
  }
  return Launch("sm90_paged_attention_merge_splits", sm90_paged_attention_merge_splits,
                dim3(static_cast<unsigned>(tokens), static_cast<unsigned>(p.heads)),
                dim3(kMergeThreads), 0, stream, true, p);
}

template <int kHeads>
std::string LaunchHeads(AttentionParams p, int64_t tokens, void* stream) {
  if (p.head_dim <= 64) return LaunchShape<kHeads, 8>(p, tokens, stream);
  if (p.head_dim <= 128) return LaunchShape<kHeads, 16>(p, tokens, stream);
  return LaunchShape<kHeads, 32>(p, tokens, stream);
}

// CTAs a launch runs per split of the keys when each takes `cta_heads` query heads.
int64_t CtasPerSplit(const PagedAttentionArgs& a, int cta_heads) {
  const int group = a.heads / a.kv_heads;
  return a.tokens * a.kv_heads * ((group + cta_heads - 1) / cta_heads);
}

// Query heads per CTA. The query heads of a kv head's group share every key and value a CTA
// loads, so up to 8 go together; but each one lengthens the CTA's chain of dependent math (a
// dot, shuffles and exp2 per head and key tile, on 8 warps with an SM to themselves). Where the
// launch would not even give each SM one CTA (decode at small batch) the group is dealt over
// more CTAs, which read the same keys and values again from L2. Measured on the H200 (ncu, 256
// cached keys, batch 1): Qwen3-30B-A3B 14.9 -> 5.8 us, Mixtral-8x7B 8.7 -> 5.9 us.
int CtaHeads(const PagedAttentionArgs& a) {
  const int group = a.heads / a.kv_heads;
  int heads = group > 4 ? 8 : group > 2 ? 4 : group > 1 ? 2 : 1;
  static const int sms = MultiprocessorCount();
  while (heads > 1 && CtasPerSplit(a, heads) < sms) heads /= 2;
  return heads;
}

// Splits per row: none where the launch already gives every SM a CTA (the merge costs more than
// the shorter runs of keys win), else enough CTAs for two waves over the SMs, no more than the
// table holds runs of kMinSplitKeys keys. Measured on the H200 (bench decode, Qwen3-30B-A3B,
// tokens/s): 2 splits -> none at batch 16 (256 CTAs) 1,296 -> 1,342 with 256 cached tokens and
// 886 -> 908 with 4,096, at batch 64 3,184 -> 3,401; at batch 1 (32 CTAs, 4,096 cached tokens)
// two waves (9 splits) 245 tokens/s, one wave 234, eight waves 230.
int PlanSplits(const PagedAttentionArgs& a) {
  const int64_t ctas = CtasPerSplit(a, CtaHeads(a));
  const int64_t keys = static_cast<int64_t>(a.max_blocks_per_sequence) * a.block_size;
  static const int sms = MultiprocessorCount();
  if (ctas >= sms) return 1;
  const int64_t splits = std::min<int64_t>((2 * sms + ctas - 1) / std::max<int64_t>(ctas, 1),
                                           (keys + kMinSplitKeys - 1) / kMinSplitKeys);
  return static_cast<int>(std::clamp<int64_t>(splits, 1, kMaxSplits));
}

}  // namespace

size_t PagedAttentionWorkspaceBytes(const PagedAttentionArgs& a) {
  if (a.tokens <= 0 || a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0) return 0;
  const int splits = PlanSplits(a);
  if (splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(a.tokens) * splits * a.heads * (a.head_dim + 2);
}

std::string CheckPagedAttention(const PagedAttentionArgs& a) {
  const std::string what = "paged attention: ";
  if (a.tokens < 0 || a.tokens > INT_MAX) {
    return what + "tokens " + std::to_string(a.tokens) + " is not in [0, 2^31)";
  }
  if (a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0) {
    return what + std::to_string(a.heads) + " heads is not a positive multiple of " +
           std::to_string(a.kv_heads) + " kv heads";
  }
  if (a.head_dim <= 0 || a.head_dim > kMaxHeadDim || a.head_dim % 8 != 0) {
    return what + "head_dim " + std::to_string(a.head_dim) + " is not a multiple of 8 in [8, " +
           std::to_string(kMaxHeadDim) + "]";
  }
  const int group = a.heads / a.kv_heads;
  if (static_cast<int64_t>(a.kv_heads) * ((group + kMaxCtaHeads - 1) / kMaxCtaHeads) > 65535) {
    return what + std::to_string(a.heads) + " heads is too many for one grid";
  }
  if (a.block_size <= 0 || a.max_blocks_per_sequence <= 0) {
    return what + "block_size " + std::to_string(a.block_size) + " and max_blocks_per_sequence " +
           std::to_string(a.max_blocks_per_sequence) + " must be positive";
  }
  if (a.sliding_window < 0) {
    return what + "sliding_window " + std::to_string(a.sliding_window) + " is negative";
  }
  if (a.q_stride < static_cast<int64_t>(a.heads) * a.head_dim) {
    return what + "q_stride " + std::to_string(a.q_stride) + " is shorter than a row";
  }
  if (a.tokens == 0) return "";
  if (a.q == nullptr || a.k_cache == nullptr || a.v_cache == nullptr || a.block_tables == nullptr ||
      a.row_sequence == nullptr || a.row_position == nullptr || a.out == nullptr) {
    return what + "a required pointer is null";
  }
  if (reinterpret_cast<uintptr_t>(a.k_cache) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(a.v_cache) % 16 != 0) {
    return what + "the K and V caches must be 16-byte aligned";
  }
  return "";
}

std::string LaunchPagedAttention(const PagedAttentionArgs& a, void* stream) {
  if (a.tokens == 0) return "";
  if (std::string why = CheckPagedAttention(a); !why.empty()) return why;
  AttentionParams p{};
  p.q = a.q;
  p.q_stride = a.q_stride;
  p.k_cache = reinterpret_cast<const __nv_bfloat16*>(a.k_cache);
  p.v_cache = reinterpret_cast<const __nv_bfloat16*>(a.v_cache);
  p.block_tables = a.block_tables;
  p.max_blocks = a.max_blocks_per_sequence;
  p.row_sequence = a.row_sequence;
  p.row_position = a.row_position;
  p.heads = a.heads;
  p.kv_heads = a.kv_heads;
  p.head_dim = a.head_dim;
  p.block_size = a.block_size;
  p.group = a.heads / a.kv_heads;
  p.scale_log2 = a.scale * kLog2e;
  p.sliding_window = a.sliding_window;
  p.sinks = a.sinks;
  p.splits = PlanSplits(a);
  p.workspace = a.workspace;
  p.out = reinterpret_cast<__nv_bfloat16*>(a.out);
  if (p.splits > 1 && p.workspace == nullptr)
    return "paged attention: the split needs a workspace of PagedAttentionWorkspaceBytes()";
  const int cta_heads = CtaHeads(a);
  p.chunks = (p.group + cta_heads - 1) / cta_heads;
  switch (cta_heads) {
    case 8:
      return LaunchHeads<8>(p, a.tokens, stream);
    case 4:
      return LaunchHeads<4>(p, a.tokens, stream);
    case 2:
      return LaunchHeads<2>(p, a.tokens, stream);
    default:
      return LaunchHeads<1>(p, a.tokens, stream);
  }
}

}  // namespace sy::kernels
