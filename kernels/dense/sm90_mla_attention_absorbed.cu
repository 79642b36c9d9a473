// sm90_mla_attention_absorbed: DeepSeek's latent attention in its absorbed form over the paged
// bf16 latent cache (dense_cuda.h, MlaAttentionArgs), prefill and decode rows alike.
//
// Every query head reads the same cached latents, so one CTA takes kCtaHeads heads of a row and
// loads each tile of kTile cached tokens into shared memory once for all of them. A tile is three
// phases separated by barriers:
//   scores   each thread dots one token with two heads' absorbed queries (f32, from shared
//            memory; rows of the tile are padded to an odd number of words so a warp reading 32
//            tokens at one lane hits 32 banks);
//   softmax  warp w keeps the online softmax (log2 units: q is pre-scaled by scale * log2 e) of
//            heads w and w + 8 and turns the tile's scores into probabilities;
//   values   each thread owns two heads' worth of latent lanes in registers and adds p * c.
// Long histories with few rows (decode at small batch) are split over CTAs, FlashDecoding-style:
// split s takes a fixed range of tiles (fixed from the table width, so a captured graph stays
// valid as sequences grow), writes its unnormalised state to the workspace, and
// sm90_mla_merge_splits combines the splits. No tensor cores, and that is what bounds it: the
// cache it reads is small (256 cached tokens: 0.3 MB), but each tile's scores and values are
// 16 x 32 x 576 and 16 x 32 x 512 FMAs on CUDA cores, and ncu finds one row's launch at 6% of
// DRAM bandwidth and 0.4 warps issued a cycle per scheduler. The scores and values as mma tiles
// are the next step (docs/benchmarks.md, "MLA decode attention").
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kCtaHeads = 16;             // two per warp in the softmax phase
constexpr int kTile = 32;                 // cached tokens per tile: one per lane
constexpr int kMaxRank = 512;             // latent lanes; each thread holds kMaxRank / 16 of them
constexpr int kMaxWidth = kMaxRank + 64;  // latent + rope lanes
constexpr int kPairsPerThread = kMaxRank / 2 / 16;
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMergeThreads = 128;

struct Params {
  const float* q;
  int64_t q_stride;
  const __nv_bfloat16* cache;
  const int32_t* block_tables;
  int64_t max_blocks;
  const int32_t* row_sequence;
  const int32_t* row_position;
  int heads;
  int rank;
  int width;       // rank + rope
  int tile_words;  // shared-memory pitch of a cached token, in 32-bit words (odd)
  int block_size;
  int splits;
  int tiles_per_split;
  float scale_log2;
  float* workspace;  // splits > 1: [tokens, splits, heads, rank + 2] (acc, max, sum)
  __nv_bfloat16* out;
};

// Shared memory: q [kCtaHeads][width] f32, the tile [kTile][tile_words] words, probabilities
// [kCtaHeads][kTile], then per head the rescale factor and the final sum.
size_t SharedBytes(int width, int tile_words) {
  return sizeof(float) *
         (kCtaHeads * width + kTile * tile_words + kCtaHeads * kTile + 2 * kCtaHeads);
}

__device__ __forceinline__ float2 Bf16PairToFloat2(uint32_t w) {
  return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}

__global__ void __launch_bounds__(kThreads) sm90_mla_attention_absorbed(Params p) {
  extern __shared__ float smem[];
  const int row = blockIdx.x;
  const int head0 = blockIdx.y * kCtaHeads;
  const int split = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* q_s = smem;
  uint32_t* tile_s = reinterpret_cast<uint32_t*>(q_s + kCtaHeads * p.width);
  float* prob_s = reinterpret_cast<float*>(tile_s + kTile * p.tile_words);
  float* alpha_s = prob_s + kCtaHeads * kTile;
  float* sum_s = alpha_s + kCtaHeads;

  const int position = p.row_position[row];
  const int32_t* table = p.block_tables + p.row_sequence[row] * p.max_blocks;
  for (int i = threadIdx.x; i < kCtaHeads * p.width; i += kThreads) {
    const int h = head0 + i / p.width;
    q_s[i] = h < p.heads ? p.q[row * p.q_stride + h * p.width + i % p.width] * p.scale_log2 : 0.0f;
  }
  // Softmax state of heads warp and warp + 8 (every lane holds the same copy).
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  // The values phase: head group_head owns latent pairs pair0 + 16 i.
  const int value_head = threadIdx.x / 16, pair0 = threadIdx.x % 16;
  float2 acc[kPairsPerThread];
#pragma unroll
  for (int i = 0; i < kPairsPerThread; ++i) acc[i] = make_float2(0.0f, 0.0f);

  const int words = p.width / 2;
  const int first_tile = split * p.tiles_per_split;
  const int end_tile = min(first_tile + p.tiles_per_split, position / kTile + 1);
  for (int tile = first_tile; tile < end_tile; ++tile) {
    const int base = tile * kTile;
    __syncthreads();  // the previous tile is no longer read
    for (int i = threadIdx.x; i < kTile * words; i += kThreads) {
      const int j = i / words, w = i % words, pos = base + j;
      uint32_t value = 0;
      if (pos <= position) {
        const int64_t slot =
            static_cast<int64_t>(table[pos / p.block_size]) * p.block_size + pos % p.block_size;
        value = reinterpret_cast<const uint32_t*>(p.cache + slot * p.width)[w];
      }
      tile_s[j * p.tile_words + w] = value;
    }
    __syncthreads();
    // Scores: token `lane` against heads warp and warp + 8.
    {
      const uint32_t* kv = tile_s + lane * p.tile_words;
      const float2* q0 = reinterpret_cast<const float2*>(q_s + warp * p.width);
      const float2* q1 = reinterpret_cast<const float2*>(q_s + (warp + 8) * p.width);
      // Four independent chains (each lane of a pair into its own sum) rather than one a head:
      // DeepSeek-V3 at 16 rows, 129 -> 125 us a layer.
      float2 s0 = make_float2(0.0f, 0.0f), s1 = make_float2(0.0f, 0.0f);
#pragma unroll 4
      for (int w = 0; w < words; ++w) {
        const float2 c = Bf16PairToFloat2(kv[w]);
        const float2 a = q0[w], b = q1[w];
        s0.x = fmaf(a.x, c.x, s0.x);
        s0.y = fmaf(a.y, c.y, s0.y);
        s1.x = fmaf(b.x, c.x, s1.x);
        s1.y = fmaf(b.y, c.y, s1.y);
      }
      const bool valid = base + lane <= position;
      float s[2] = {valid ? s0.x + s0.y : -INFINITY, valid ? s1.x + s1.y : -INFINITY};
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        float tile_max = s[k];
        for (int o = 16; o > 0; o /= 2)
          tile_max = fmaxf(tile_max, __shfl_xor_sync(~0u, tile_max, o));
        const float m_new = fmaxf(m[k], tile_max);  // finite: token `base` is always valid
        const float prob = valid ? exp2f(s[k] - m_new) : 0.0f;
        float sum = prob;
        for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(~0u, sum, o);
        const float alpha = exp2f(m[k] - m_new);  // 0 on the first tile (m = -inf)
        l[k] = l[k] * alpha + sum;
        m[k] = m_new;
        const int h = warp + 8 * k;
        prob_s[h * kTile + lane] = prob;
        if (lane == 0) alpha_s[h] = alpha;
      }
    }
    __syncthreads();
    const float alpha = alpha_s[value_head];
    const float* prob = prob_s + value_head * kTile;
#pragma unroll
    for (int i = 0; i < kPairsPerThread; ++i) {
      acc[i].x *= alpha;
      acc[i].y *= alpha;
    }
    for (int j = 0; j < kTile; ++j) {
      const float pj = prob[j];
      const uint32_t* kv = tile_s + j * p.tile_words;
#pragma unroll
      for (int i = 0; i < kPairsPerThread; ++i) {
        const int w = pair0 + 16 * i;
        if (2 * w < p.rank) {
          const float2 c = Bf16PairToFloat2(kv[w]);
          acc[i].x = fmaf(pj, c.x, acc[i].x);
          acc[i].y = fmaf(pj, c.y, acc[i].y);
        }
      }
    }
  }
  if (lane == 0) {
    sum_s[warp] = l[0];
    sum_s[warp + 8] = l[1];
    if (p.splits > 1) {  // the max goes with the state; reuse alpha_s for it
      alpha_s[warp] = m[0];
      alpha_s[warp + 8] = m[1];
    }
  }
  __syncthreads();
  const int h = head0 + value_head;
  if (h >= p.heads) return;
  if (p.splits == 1) {
    const float inv = 1.0f / sum_s[value_head];
    __nv_bfloat16* out = p.out + (static_cast<int64_t>(row) * p.heads + h) * p.rank;
#pragma unroll
    for (int i = 0; i < kPairsPerThread; ++i) {
      const int w = pair0 + 16 * i;
      if (2 * w < p.rank) {
        reinterpret_cast<__nv_bfloat162*>(out)[w] =
            __floats2bfloat162_rn(acc[i].x * inv, acc[i].y * inv);
      }
    }
    return;
  }
  float* state =
      p.workspace + ((static_cast<int64_t>(row) * p.splits + split) * p.heads + h) * (p.rank + 2);
#pragma unroll
  for (int i = 0; i < kPairsPerThread; ++i) {
    const int w = pair0 + 16 * i;
    if (2 * w < p.rank) reinterpret_cast<float2*>(state)[w] = acc[i];
  }
  if (pair0 == 0) {
    state[p.rank] = alpha_s[value_head];
    state[p.rank + 1] = sum_s[value_head];
  }
}

// One CTA per (row, head): out = sum_s acc_s 2^(m_s - M) / sum_s l_s 2^(m_s - M).
__global__ void __launch_bounds__(kMergeThreads)
    sm90_mla_merge_splits(const float* workspace, int heads, int rank, int splits,
                          __nv_bfloat16* out) {
  const int row = blockIdx.x, h = blockIdx.y;
  const float* state = workspace + (static_cast<int64_t>(row) * splits * heads + h) * (rank + 2);
  const int64_t split_stride = static_cast<int64_t>(heads) * (rank + 2);
  float max = -INFINITY;
  for (int s = 0; s < splits; ++s) max = fmaxf(max, state[s * split_stride + rank]);
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* st = state + s * split_stride;
    if (st[rank + 1] > 0.0f) total += st[rank + 1] * exp2f(st[rank] - max);
  }
  const float inv = 1.0f / total;
  for (int d = threadIdx.x; d < rank; d += kMergeThreads) {
    float v = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* st = state + s * split_stride;
      if (st[rank + 1] > 0.0f) v += st[d] * exp2f(st[rank] - max);
    }
    out[(static_cast<int64_t>(row) * heads + h) * rank + d] = __float2bfloat16_rn(v * inv);
  }
}

struct Split {
  int splits = 1;
  int tiles_per_split = 1;
};

// Enough CTAs for two waves over the SMs, down to one tile a split: a CTA alone on its SM
// takes ~30 us a tile (latency-bound, two warps a scheduler), so at small batch a row's tiles
// are worth spreading as far as they go (DeepSeek-V3, 1 row at 256 cached tokens: 9 splits of
// one tile, 69 -> 35 us a layer, the merge 7 -> 10 us; at two tiles a split it was 5).
Split PlanSplit(const MlaAttentionArgs& a) {
  const int64_t tiles =
      (static_cast<int64_t>(a.max_blocks_per_sequence) * a.block_size + kTile - 1) / kTile;
  const int64_t ctas = a.tokens * ((a.heads + kCtaHeads - 1) / kCtaHeads);
  static const int sms = MultiprocessorCount();
  int64_t splits = std::min<int64_t>((2 * sms + ctas - 1) / ctas, tiles);
  splits = std::clamp<int64_t>(splits, 1, 64);
  Split s;
  s.tiles_per_split = static_cast<int>((tiles + splits - 1) / splits);
  s.splits = static_cast<int>((tiles + s.tiles_per_split - 1) / s.tiles_per_split);
  return s;
}

}  // namespace

std::string CheckMlaAttention(const MlaAttentionArgs& a) {
  const int width = a.kv_lora_rank + a.rope_dim;
  if (a.kv_lora_rank <= 0 || a.kv_lora_rank > kMaxRank || a.kv_lora_rank % 2 != 0 ||
      a.rope_dim < 0 || a.rope_dim % 2 != 0 || width > kMaxWidth) {
    return "MLA attention: kv_lora_rank " + std::to_string(a.kv_lora_rank) + " and rope dim " +
           std::to_string(a.rope_dim) + " must be even, with rank <= " + std::to_string(kMaxRank) +
           " and rank + rope <= " + std::to_string(kMaxWidth);
  }
  if (a.heads <= 0 || a.block_size <= 0 || a.max_blocks_per_sequence <= 0) {
    return "MLA attention: heads, block size and table width must be positive";
  }
  if (a.q_stride < static_cast<int64_t>(a.heads) * width) {
    return "MLA attention: q_stride " + std::to_string(a.q_stride) + " is less than heads * " +
           std::to_string(width);
  }
  return "";
}

size_t MlaAttentionWorkspaceBytes(const MlaAttentionArgs& a) {
  const Split s = PlanSplit(a);
  if (s.splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(a.tokens) * s.splits * a.heads * (a.kv_lora_rank + 2);
}

std::string LaunchMlaAttention(const MlaAttentionArgs& a, void* stream) {
  if (a.tokens == 0) return "";
  if (std::string why = CheckMlaAttention(a); !why.empty()) return why;
  if (a.tokens > INT_MAX) return "MLA attention: too many rows for one grid";
  const Split split = PlanSplit(a);
  if (split.splits > 1 && a.workspace == nullptr) {
    return "MLA attention: the split needs a workspace of MlaAttentionWorkspaceBytes()";
  }
  Params p;
  p.q = a.q;
  p.q_stride = a.q_stride;
  p.cache = reinterpret_cast<const __nv_bfloat16*>(a.cache);
  p.block_tables = a.block_tables;
  p.max_blocks = a.max_blocks_per_sequence;
  p.row_sequence = a.row_sequence;
  p.row_position = a.row_position;
  p.heads = a.heads;
  p.rank = a.kv_lora_rank;
  p.width = a.kv_lora_rank + a.rope_dim;
  p.tile_words = p.width / 2 % 2 == 1 ? p.width / 2 : p.width / 2 + 1;
  p.block_size = a.block_size;
  p.splits = split.splits;
  p.tiles_per_split = split.tiles_per_split;
  p.scale_log2 = a.scale * kLog2e;
  p.workspace = a.workspace;
  p.out = reinterpret_cast<__nv_bfloat16*>(a.out);
  const size_t smem = SharedBytes(p.width, p.tile_words);
  // Once per process, for the largest shape: the call is not a stream operation, and a decode
  // step may be launched while a graph is being captured. (Ranks are one process per GPU.)
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(sm90_mla_attention_absorbed, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(SharedBytes(kMaxWidth, kMaxWidth / 2 + 1)));
  if (opted_in != cudaSuccess) {
    return std::string("sm90_mla_attention_absorbed: shared memory: ") +
           cudaGetErrorString(opted_in);
  }
  const dim3 grid(static_cast<unsigned>(a.tokens), (a.heads + kCtaHeads - 1) / kCtaHeads,
                  split.splits);
  if (std::string err = Launch("sm90_mla_attention_absorbed", sm90_mla_attention_absorbed, grid,
                               dim3(kThreads), smem, stream, false, p);
      !err.empty() || split.splits == 1) {
    return err;
  }
  return Launch("sm90_mla_merge_splits", sm90_mla_merge_splits,
                dim3(static_cast<unsigned>(a.tokens), a.heads), dim3(kMergeThreads), 0, stream,
                false, static_cast<const float*>(a.workspace), a.heads, a.kv_lora_rank,
                split.splits, p.out);
}

}  // namespace sy::kernels
