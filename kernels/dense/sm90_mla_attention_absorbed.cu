// sm90_mla_attention_absorbed_mma: DeepSeek's latent attention in its absorbed form over the
// paged bf16 latent cache (dense_cuda.h, MlaAttentionArgs), prefill and decode rows alike.
//
// Every query head reads the same cached latents, so one CTA takes kCtaHeads = 16 heads of a row
// (the M of an m16n8k16 tile) and loads each tile of kTile = 32 cached tokens into shared memory
// once for all of them. A tile is three phases separated by barriers:
//   scores   S [16 heads, 32 tokens] = q [16, width] . tile^T on tensor cores, warp w taking
//            tokens 8 (w % 4) .. + 8 over half of the k steps (w / 4), the halves added after;
//   softmax  warp w keeps the online softmax (log2 units: q is pre-scaled by scale * log2 e) of
//            heads w and w + 8, lane j on token j, and writes the tile's probabilities;
//   values   O [16, rank] += P [16, 32] . tile [32, rank], warp w owning the 8-lane column
//            blocks w, w + 8, ... of O in its accumulators.
// The products keep f32 accuracy on bf16 tensor cores: q and P go in as two bf16 halves each
// (hi = bf16(x), lo = bf16(x - hi)), so a product is q_hi . k + q_lo . k with k exact in bf16.
// The tile comes in through cp.async, 16-byte copies all in flight at once. Against the CUDA-core
// form it replaced (a thread a token and two heads, the tile loaded through registers), DeepSeek-V3
// decode at 256 cached tokens, a layer: 1 row 35 -> 12.5 us, 16 rows 125 -> 53, 64 rows
// 494 -> 130.
//
// Long histories with few rows (decode at small batch) are split over CTAs, FlashDecoding-style:
// split s takes a fixed range of tiles (fixed from the table width, so a captured graph stays
// valid as sequences grow), writes its unnormalised state to the workspace, and
// sm90_mla_merge_splits combines the splits.
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
constexpr int kCtaHeads = 16;             // an mma tile's M; two per warp in the softmax phase
constexpr int kTile = 32;                 // cached tokens per tile: one per lane in the softmax
constexpr int kMaxRank = 512;             // latent lanes
constexpr int kMaxWidth = kMaxRank + 64;  // latent + rope lanes
constexpr int kMaxColumnBlocks = kMaxRank / 8 / kWarps;  // 8-lane blocks of O a warp owns
constexpr int kProbPitch = kTile + 8;  // bf16: 80-byte rows, ldmatrix without bank conflicts
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMergeThreads = 128;
constexpr int kMaxSplits = 64;

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
  int width;    // rank + rope
  int k_steps;  // width rounded up to 16, in 16s (the lanes past width are zeros)
  int pitch;    // bf16 elements a row of q and of the tile takes in shared memory
  int block_size;
  int splits;
  int tiles_per_split;
  float scale_log2;
  float* workspace;  // splits > 1: [tokens, splits, heads, rank + 2] (acc, max, sum)
  __nv_bfloat16* out;
};

// The shared-memory pitch of a row of `width` lanes: a multiple of 16 lanes plus 8, so rows
// are 16-byte aligned and an odd number of 16-byte chunks apart (ldmatrix conflict-free).
int RowPitch(int width) { return (width + 15) / 16 * 16 + 8; }

// Shared memory: q's two halves [2][kCtaHeads][pitch] bf16, the tile [kTile][pitch] bf16, the
// scores' two k halves [2][kCtaHeads][kTile] f32, the probabilities' two halves
// [2][kCtaHeads][kProbPitch] bf16, then per head the rescale factor and the final sum.
size_t SharedBytes(int pitch) {
  return 2 * (2 * kCtaHeads * pitch + kTile * pitch + 2 * kCtaHeads * kProbPitch) +
         4 * (2 * kCtaHeads * kTile + 2 * kCtaHeads);
}

__device__ __forceinline__ void SplitBf16(float x, __nv_bfloat16& hi, __nv_bfloat16& lo) {
  hi = __float2bfloat16_rn(x);
  lo = __float2bfloat16_rn(x - __bfloat162float(hi));
}

__global__ void __launch_bounds__(kThreads) sm90_mla_attention_absorbed_mma(Params p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int row = blockIdx.x;
  const int head0 = blockIdx.y * kCtaHeads;
  const int split = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int pitch = p.pitch;
  __nv_bfloat16* q_s = reinterpret_cast<__nv_bfloat16*>(smem);  // [2][kCtaHeads][pitch]
  __nv_bfloat16* tile_s = q_s + 2 * kCtaHeads * pitch;          // [kTile][pitch]
  __nv_bfloat16* prob_s = tile_s + kTile * pitch;               // [2][kCtaHeads][kProbPitch]
  float* score_s = reinterpret_cast<float*>(prob_s + 2 * kCtaHeads * kProbPitch);
  float* alpha_s = score_s + 2 * kCtaHeads * kTile;
  float* sum_s = alpha_s + kCtaHeads;

  const int position = p.row_position[row];
  const int32_t* table = p.block_tables + p.row_sequence[row] * p.max_blocks;
  const int padded = p.k_steps * 16;
#pragma unroll 4
  for (int i = threadIdx.x; i < kCtaHeads * padded; i += kThreads) {
    const int h = i / padded, d = i % padded;
    const float x = head0 + h < p.heads && d < p.width
                        ? __ldg(p.q + row * p.q_stride + (head0 + h) * p.width + d) * p.scale_log2
                        : 0.0f;
    SplitBf16(x, q_s[h * pitch + d], q_s[(kCtaHeads + h) * pitch + d]);
  }
  // Softmax state of heads warp and warp + 8 (every lane holds the same copy).
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  // O's accumulators: column block warp + 8 c, rows (heads) lane / 4 and lane / 4 + 8.
  float acc[kMaxColumnBlocks][4] = {};
  const int column_blocks = (p.rank + 7) / 8;
  // Scores: tokens 8 * score_block .. + 8 over k steps [k_begin, k_end).
  const int score_block = warp % 4;
  const int k_half = (p.k_steps + 1) / 2;
  const int k_begin = warp < 4 ? 0 : k_half, k_end = warp < 4 ? k_half : p.k_steps;
  // ldmatrix row addresses: x4 over a 16 x 16 A tile, x2 over an 8-row (n) by 16 (k) B tile.
  const int a_row = lane % 16, a_col = lane / 16 * 8;
  const int b_row = lane % 8, b_col = lane / 8 % 2 * 8;

  // The tile's 16-byte copies (8 lanes) a token: those of the latent row, then zeros.
  const int chunks = padded / 8, data_chunks = p.width / 8;
  const int first_tile = split * p.tiles_per_split;
  const int end_tile = min(first_tile + p.tiles_per_split, position / kTile + 1);
  for (int tile = first_tile; tile < end_tile; ++tile) {
    const int base = tile * kTile;
    __syncthreads();  // the previous tile is no longer read
    // cp.async: the tile's copies all in flight at once, none through registers.
    for (int i = threadIdx.x; i < kTile * chunks; i += kThreads) {
      const int j = i / chunks, c = i % chunks, pos = base + j;
      __nv_bfloat16* dst = tile_s + j * pitch + 8 * c;
      if (pos <= position && c < data_chunks) {
        const int64_t slot =
            static_cast<int64_t>(table[pos / p.block_size]) * p.block_size + pos % p.block_size;
        CpAsync16(dst, p.cache + slot * p.width + 8 * c);
      } else {
        *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      }
    }
    CpAsyncCommit();
    CpAsyncWait<0>();
    __syncthreads();
    {
      float s[4] = {};
      for (int k = k_begin; k < k_end; ++k) {
        uint32_t hi[4], lo[4], b[2];
        LdMatrixX4(hi, q_s + a_row * pitch + 16 * k + a_col);
        LdMatrixX4(lo, q_s + (kCtaHeads + a_row) * pitch + 16 * k + a_col);
        LdMatrixX2(b, tile_s + (8 * score_block + b_row) * pitch + 16 * k + b_col);
        MmaBf16(s, hi[0], hi[1], hi[2], hi[3], b[0], b[1]);
        MmaBf16(s, lo[0], lo[1], lo[2], lo[3], b[0], b[1]);
      }
      float* half = score_s + (warp / 4) * kCtaHeads * kTile;
      const int h = lane / 4, t = 8 * score_block + 2 * (lane % 4);
      half[h * kTile + t] = s[0];
      half[h * kTile + t + 1] = s[1];
      half[(h + 8) * kTile + t] = s[2];
      half[(h + 8) * kTile + t + 1] = s[3];
    }
    __syncthreads();
    {
      const bool valid = base + lane <= position;
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int h = warp + 8 * k;
        const float score = score_s[h * kTile + lane] + score_s[(kCtaHeads + h) * kTile + lane];
        const float s = valid ? score : -INFINITY;
        float tile_max = s;
        for (int o = 16; o > 0; o /= 2)
          tile_max = fmaxf(tile_max, __shfl_xor_sync(~0u, tile_max, o));
        const float m_new = fmaxf(m[k], tile_max);  // finite: token `base` is always valid
        const float prob = valid ? exp2f(s - m_new) : 0.0f;
        float sum = prob;
        for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(~0u, sum, o);
        const float alpha = exp2f(m[k] - m_new);  // 0 on the first tile (m = -inf)
        l[k] = l[k] * alpha + sum;
        m[k] = m_new;
        SplitBf16(prob, prob_s[h * kProbPitch + lane], prob_s[(kCtaHeads + h) * kProbPitch + lane]);
        if (lane == 0) alpha_s[h] = alpha;
      }
    }
    __syncthreads();
    {
      const float alpha_top = alpha_s[lane / 4], alpha_bottom = alpha_s[lane / 4 + 8];
      uint32_t hi[2][4], lo[2][4];
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        LdMatrixX4(hi[k], prob_s + a_row * kProbPitch + 16 * k + a_col);
        LdMatrixX4(lo[k], prob_s + (kCtaHeads + a_row) * kProbPitch + 16 * k + a_col);
      }
#pragma unroll
      for (int c = 0; c < kMaxColumnBlocks; ++c) {
        const int block = warp + kWarps * c;
        if (block >= column_blocks) break;
        acc[c][0] *= alpha_top;
        acc[c][1] *= alpha_top;
        acc[c][2] *= alpha_bottom;
        acc[c][3] *= alpha_bottom;
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          // B [16 tokens, 8 lanes] stored token-major: the transposing load gives its
          // k-major fragment. Rows 16 k + lane % 16 (lanes 16-31 repeat them; x2 reads 0-15).
          uint32_t b[2];
          LdMatrixX2Trans(b, tile_s + (16 * k + lane % 16) * pitch + 8 * block);
          MmaBf16(acc[c], hi[k][0], hi[k][1], hi[k][2], hi[k][3], b[0], b[1]);
          MmaBf16(acc[c], lo[k][0], lo[k][1], lo[k][2], lo[k][3], b[0], b[1]);
        }
      }
    }
  }
  if (lane == 0) {
    sum_s[warp] = l[0];
    sum_s[warp + 8] = l[1];
  }
  __syncthreads();  // alpha_s is free again: it carries the max below
  if (lane == 0 && p.splits > 1) {
    alpha_s[warp] = m[0];
    alpha_s[warp + 8] = m[1];
  }
  __syncthreads();
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int local = lane / 4 + 8 * half, h = head0 + local;
    if (h >= p.heads) continue;
    const float inv = 1.0f / sum_s[local];
    float* state =
        p.splits == 1
            ? nullptr
            : p.workspace +
                  ((static_cast<int64_t>(row) * p.splits + split) * p.heads + h) * (p.rank + 2);
#pragma unroll
    for (int c = 0; c < kMaxColumnBlocks; ++c) {
      const int block = warp + kWarps * c;
      const int d = 8 * block + 2 * (lane % 4);
      if (d >= p.rank) break;  // the blocks past the rank are computed, never stored
      const float x = acc[c][2 * half], y = acc[c][2 * half + 1];
      if (p.splits == 1) {
        reinterpret_cast<__nv_bfloat162*>(p.out + (static_cast<int64_t>(row) * p.heads + h) *
                                                      p.rank)[d / 2] =
            __floats2bfloat162_rn(x * inv, y * inv);
      } else {
        reinterpret_cast<float2*>(state)[d / 2] = make_float2(x, y);
      }
    }
    if (p.splits > 1 && warp == 0 && lane % 4 == 0) {
      state[p.rank] = alpha_s[local];
      state[p.rank + 1] = sum_s[local];
    }
  }
}

// One CTA per (row, head): out = sum_s acc_s 2^(m_s - M) / sum_s l_s 2^(m_s - M). The splits'
// weights are computed once (one lane a split, in the first warp), so the pass over the lanes
// is one round of independent loads (DeepSeek-V3, one row, 9 splits: 9.5-10.8 -> 7.6-8.6 us
// against three dependent passes with every lane recomputing every weight).
__global__ void __launch_bounds__(kMergeThreads)
    sm90_mla_merge_splits(const float* workspace, int heads, int rank, int splits,
                          __nv_bfloat16* out) {
  __shared__ float weight_s[kMaxSplits];
  const int row = blockIdx.x, h = blockIdx.y;
  const float* state = workspace + (static_cast<int64_t>(row) * splits * heads + h) * (rank + 2);
  const int64_t split_stride = static_cast<int64_t>(heads) * (rank + 2);
  if (threadIdx.x < 32) {
    // Lane i holds splits i and i + 32 (kMaxSplits = 64): their max and sum, then the weights.
    float m[2], l[2];
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int sp = threadIdx.x + 32 * k;
      m[k] = sp < splits ? state[sp * split_stride + rank] : -INFINITY;
      l[k] = sp < splits ? state[sp * split_stride + rank + 1] : 0.0f;
    }
    float max = fmaxf(m[0], m[1]);
    for (int o = 16; o > 0; o /= 2) max = fmaxf(max, __shfl_xor_sync(~0u, max, o));
    float scale[2], total = 0.0f;
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      scale[k] = l[k] > 0.0f ? exp2f(m[k] - max) : 0.0f;  // a split with no tiles counts 0
      total += l[k] * scale[k];
    }
    for (int o = 16; o > 0; o /= 2) total += __shfl_xor_sync(~0u, total, o);
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int sp = threadIdx.x + 32 * k;
      if (sp < splits) weight_s[sp] = scale[k] / total;
    }
  }
  __syncthreads();
  for (int d = threadIdx.x; d < rank; d += kMergeThreads) {
    float v = 0.0f;
    for (int sp = 0; sp < splits; ++sp) v += state[sp * split_stride + d] * weight_s[sp];
    out[(static_cast<int64_t>(row) * heads + h) * rank + d] = __float2bfloat16_rn(v);
  }
}

struct Split {
  int splits = 1;
  int tiles_per_split = 1;
};

// Enough CTAs for two waves over the SMs, down to one tile a split: a CTA's time is mostly its
// tiles' latency, so at small batch a row's tiles are worth spreading as far as they go (on the
// CUDA-core form, DeepSeek-V3, 1 row at 256 cached tokens: 9 splits of one tile rather than 5
// of two, 69 -> 35 us a layer, the merge 7 -> 10 us).
Split PlanSplit(const MlaAttentionArgs& a) {
  const int64_t tiles =
      (static_cast<int64_t>(a.max_blocks_per_sequence) * a.block_size + kTile - 1) / kTile;
  const int64_t ctas = a.tokens * ((a.heads + kCtaHeads - 1) / kCtaHeads);
  static const int sms = MultiprocessorCount();
  int64_t splits = std::min<int64_t>((2 * sms + ctas - 1) / ctas, tiles);
  splits = std::clamp<int64_t>(splits, 1, kMaxSplits);
  Split s;
  s.tiles_per_split = static_cast<int>((tiles + splits - 1) / splits);
  s.splits = static_cast<int>((tiles + s.tiles_per_split - 1) / s.tiles_per_split);
  return s;
}

}  // namespace

std::string CheckMlaAttention(const MlaAttentionArgs& a) {
  const int width = a.kv_lora_rank + a.rope_dim;
  if (a.kv_lora_rank <= 0 || a.kv_lora_rank > kMaxRank || a.kv_lora_rank % 2 != 0 ||
      a.rope_dim < 0 || a.rope_dim % 2 != 0 || width > kMaxWidth || width % 8 != 0) {
    return "MLA attention: kv_lora_rank " + std::to_string(a.kv_lora_rank) + " and rope dim " +
           std::to_string(a.rope_dim) + " must be even, with rank <= " + std::to_string(kMaxRank) +
           " and rank + rope a multiple of 8 (16-byte copies of a cached row), <= " +
           std::to_string(kMaxWidth);
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
  p.k_steps = (p.width + 15) / 16;
  p.pitch = RowPitch(p.width);
  p.block_size = a.block_size;
  p.splits = split.splits;
  p.tiles_per_split = split.tiles_per_split;
  p.scale_log2 = a.scale * kLog2e;
  p.workspace = a.workspace;
  p.out = reinterpret_cast<__nv_bfloat16*>(a.out);
  const size_t smem = SharedBytes(p.pitch);
  // Once per process, for the largest shape: the call is not a stream operation, and a decode
  // step may be launched while a graph is being captured. (Ranks are one process per GPU.)
  static const cudaError_t opted_in = cudaFuncSetAttribute(
      sm90_mla_attention_absorbed_mma, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(SharedBytes(RowPitch(kMaxWidth))));
  if (opted_in != cudaSuccess) {
    return std::string("sm90_mla_attention_absorbed_mma: shared memory: ") +
           cudaGetErrorString(opted_in);
  }
  const dim3 grid(static_cast<unsigned>(a.tokens), (a.heads + kCtaHeads - 1) / kCtaHeads,
                  split.splits);
  if (std::string err = Launch("sm90_mla_attention_absorbed_mma", sm90_mla_attention_absorbed_mma,
                               grid, dim3(kThreads), smem, stream, false, p);
      !err.empty() || split.splits == 1) {
    return err;
  }
  return Launch("sm90_mla_merge_splits", sm90_mla_merge_splits,
                dim3(static_cast<unsigned>(a.tokens), a.heads), dim3(kMergeThreads), 0, stream,
                false, static_cast<const float*>(a.workspace), a.heads, a.kv_lora_rank,
                split.splits, p.out);
}

}  // namespace sy::kernels
