// sm90_grouped_gemm_bf16_swapab_splitk_decode: the grouped GEMMs of decode, where each expert
// sees a handful of tokens and the layer is bound by streaming its weights from HBM.
//
// Swap-AB: weight rows fill the 16-row M side of mma.m16n8k16 and tokens its 8-wide N side,
// so one token costs no more MMA issue than eight. A CTA (8 warps) owns one block of up to
// 8 * NT tokens of one expert and R row groups of 32 weight rows (gate_up: 16 gate rows and the
// 16 matching up rows, so SwiGLU is local); the 8 / R warps of a group split K and sum in a
// fixed order in shared memory. R = 1 splits K eight ways, which keeps a long K's CTAs short;
// where K is short (Qwen3-30B-A3B's down: 768, 3 k-steps a warp) more row groups give each warp
// a longer run of loads and each CTA more bytes for its fixed costs (block table, reduction,
// epilogue). MoePlan::gate_up_row_groups and down_row_groups pick R.
//
// Loads: each lane reads 16 contiguous bytes of a weight row straight into registers
// (ld.global.nc, no L1 allocation, 256-byte L2 prefetch), kUnroll steps ahead, so a CTA keeps
// 32-64 KiB in flight without shared-memory staging. Because a dot product does not care
// about the order of k, the 8 values a lane loaded are used as its MMA fragment under a
// permutation of k, and the token fragment is loaded under the same permutation (16 bytes of
// the token's row, L1-cached: the CTAs of an SM share it).
//
// fp8 block-scaled weights (kFp8Block128, w8a16): the same 16 bytes per lane and step now hold
// 16 weights, so a step covers 64 k and the bytes in flight stay those of bf16. Each 16-byte
// chunk is turned into bf16 exactly by moving bits (dequant_bits.h), multiplied by tokens in
// bf16 into a step accumulator, and the f32 block scale is applied to that partial sum: a step
// never crosses a 128-wide k block, and a 16-row tile never crosses a 128-row block, so one
// scale per row tile and step (DeepGEMM applies its scales to partial sums the same way).
//
// int4 group-quantized weights (kU4Group128, w4a16, quantizer.int4's format): 16 bytes hold 32
// weights, a step covers 128 k = one group, so each row has one scale and zero point per step.
// Nibbles become q - zero exactly in bf16 (128 + q by bits, minus 128 + zero), and the scale
// (per row, so per accumulator pair) is applied to the step's partial sums.
//
// Grid: x = block of the block table (fastest, so blocks of one expert run together and
// share its weight tile through L2), y = row tile. Epilogues: gate_up writes
// act = silu(gate) * up (or the clamped form, biases first) in bf16; down adds router weight * y
// into the f32 output with atomics (the sum over k, so no combine launch; the routing kernel
// zeroed the output). Down biases are sm90_moe_add_down_bias's.
#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;  // k-steps of 32 loaded ahead per warp

struct DecodeParams {
  const __nv_bfloat16* b;      // gate_up: x [T, H]; down: act [slots, I]
  const void* const* weights;  // per expert, [rows, K] bf16 or fp8
  const float* const*
      scales;  // fp8: per expert [ceil(rows / 128), ceil(K / 128)]; int4: [rows, K / 128]
  const uint8_t* const* zeros;  // int4: per expert [rows, K / 128]
  int K;
  int inter, hidden, top_k;
  // The workspace fields the kernel reads (MoeWorkspaceView's; the whole view as a parameter
  // pushed the int4 NT = 8 variant into spills).
  int row_groups;  // R: groups of 32 rows per CTA, each summing over 8 / R warps
  int32_t* num_blocks;
  BlockInfo* blocks;
  int32_t* sorted_slots;
  float* topk_weights;
  uint16_t* act;
  float* out;
};

// The k loop's view of one weight format: how many k a lane's 16 bytes of a row hold, and how
// many 32-wide k-steps (bf16) or 64-wide ones (fp8) each warp loads ahead.
template <MoeWeightFormat F, int NT>
struct DecodeFormat {
  static constexpr bool kFp8 = F == MoeWeightFormat::kFp8Block128;
  static constexpr bool kU4 = F == MoeWeightFormat::kU4Group128;
  static constexpr int kLaneK = kU4 ? 32 : kFp8 ? 16 : 8;  // weights in 16 bytes
  static constexpr int kStepK = 4 * kLaneK;                // k per warp step (4 lanes per row)
  static constexpr int kXChunks = kLaneK / 8;  // 16-byte chunks of a token row per lane and step
  // Scales per step: fp8 one per row tile, int4 one per row (with a zero point).
  static constexpr int kScales = kU4 ? 4 : kFp8 ? 2 : 1;
  // Wider token tiles, and the wider token fragments of fp8 (2 chunks) and int4 (4), load fewer
  // steps ahead to stay within the register budget (NT <= 2: two CTAs per SM, 128 registers).
  // fp8 at NT = 1 keeps 3 steps (6 KiB per warp) in flight: 4 spilled.
  static constexpr int kSteps = kU4    ? (NT == 1 ? 2 : 1)
                                : kFp8 ? (NT == 1   ? 3
                                          : NT == 8 ? 1
                                                    : 2)
                                       : (NT >= 2 ? 2 : kUnroll);
};

// D += (rows g, g + 8 of a 16-row tile) . (the token of column g), over one step: bf16 weights
// a_g / a_g8 (16 bytes = 8 k each) and the token chunk x, k permuted alike on both sides.
__device__ __forceinline__ void MmaStepBf16(float (&d)[4], const uint4& a_g, const uint4& a_g8,
                                            const uint4& x) {
  MmaBf16(d, a_g.x, a_g8.x, a_g.y, a_g8.y, x.x, x.y);
  MmaBf16(d, a_g.z, a_g8.z, a_g.w, a_g8.w, x.z, x.w);
}

// The same for fp8 weights (16 bytes = 16 k each) and two token chunks (16 k): 32-bit word m of
// a row holds k 4m..4m+3, which pair with the token's bf16 words 2m and 2m + 1.
__device__ __forceinline__ void MmaStepFp8(float (&d)[4], const uint4& a_g, const uint4& a_g8,
                                           const uint4 (&x)[2]) {
  const uint32_t g[4] = {a_g.x, a_g.y, a_g.z, a_g.w}, g8[4] = {a_g8.x, a_g8.y, a_g8.z, a_g8.w};
  const uint32_t xw[8] = {x[0].x, x[0].y, x[0].z, x[0].w, x[1].x, x[1].y, x[1].z, x[1].w};
#pragma unroll
  for (int m = 0; m < 4; ++m) {
    MmaBf16(d, Fp8x2ToBf16x2(g[m]), Fp8x2ToBf16x2(g8[m]), Fp8x2ToBf16x2(g[m] >> 16),
            Fp8x2ToBf16x2(g8[m] >> 16), xw[2 * m], xw[2 * m + 1]);
  }
}

// The same for int4 weights (16 bytes = 32 k each) and four token chunks (32 k), into `d` as q -
// zero (the caller scales it): byte j of word m holds k 8m + 2j (low nibble) and 8m + 2j + 1.
__device__ __forceinline__ void MmaStepU4(float (&d)[4], const uint4& a_g, const uint4& a_g8,
                                          const uint4 (&x)[4], uint32_t zero_g, uint32_t zero_g8) {
  const uint32_t g[4] = {a_g.x, a_g.y, a_g.z, a_g.w}, g8[4] = {a_g8.x, a_g8.y, a_g8.z, a_g8.w};
  uint32_t xw[16];
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    xw[4 * c] = x[c].x;
    xw[4 * c + 1] = x[c].y;
    xw[4 * c + 2] = x[c].z;
    xw[4 * c + 3] = x[c].w;
  }
#pragma unroll
  for (int m = 0; m < 4; ++m) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // bytes 2h, 2h + 1: k 8m + 4h .. 8m + 4h + 3
      const int lo = 16 * h, hi = 16 * h + 8;
      MmaBf16(
          d, U4x2MinusZeroToBf16x2(g[m] >> lo, zero_g), U4x2MinusZeroToBf16x2(g8[m] >> lo, zero_g8),
          U4x2MinusZeroToBf16x2(g[m] >> hi, zero_g), U4x2MinusZeroToBf16x2(g8[m] >> hi, zero_g8),
          xw[4 * m + 2 * h], xw[4 * m + 2 * h + 1]);
    }
  }
}

// A row group's split-K partials, summed over its kw warps in a fixed order (a tree: local warp
// j + kw / 2, then j + kw / 4, ... into j) into s_acc [row tile][row][token]. Shared f32 atomics
// summed them in whatever order the warps arrived; the last bit of gate and up then varied run to
// run, and rounded to bf16, an element of act now and then moved by an ulp: 1.4e-4 of a layer's
// output. `s_part` holds kWarps / 2 warps' fragments, lane-minor (conflict-free), kw / 2 slots
// per group from `slots`: a warp stores into slot j % (kw / 2), which in an earlier round only it
// itself read, so no barrier separates a round's reads from the next round's writes.
template <int NT>
__device__ __forceinline__ void SumSplitKInOrder(float (&acc)[2][NT][4],
                                                 float (*s_part)[2 * NT * 4][32],
                                                 float (*s_acc)[16][8 * NT], int kw, int j,
                                                 int slots, int lane) {
  for (int half = kw / 2; half >= 1; half /= 2) {
    if (j >= half && j < 2 * half) {
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int n = 0; n < NT; ++n)
#pragma unroll
          for (int c = 0; c < 4; ++c)
            s_part[slots + j % (kw / 2)][(r * NT + n) * 4 + c][lane] = acc[r][n][c];
    }
    __syncthreads();
    if (j < half) {
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int n = 0; n < NT; ++n)
#pragma unroll
          for (int c = 0; c < 4; ++c)
            acc[r][n][c] += s_part[slots + (j + half) % (kw / 2)][(r * NT + n) * 4 + c][lane];
    }
  }
  if (j == 0) {
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const int col = n * 8 + 2 * t;
        s_acc[r][g][col] = acc[r][n][0];
        s_acc[r][g][col + 1] = acc[r][n][1];
        s_acc[r][g + 8][col] = acc[r][n][2];
        s_acc[r][g + 8][col + 1] = acc[r][n][3];
      }
    }
  }
  __syncthreads();
}

// `view` (gate_up's biases and activation) is a parameter of its own: as a member of
// DecodeParams it pushed the NT = 1 down kernel past its register budget.
template <MoeWeightFormat F, int NT, bool kGateUp>
__global__ void __launch_bounds__(kThreads, NT <= 2 ? 2 : 1)
    sm90_grouped_gemm_bf16_swapab_splitk_decode(DecodeParams p, MoeWeightsView view) {
  using Fmt = DecodeFormat<F, NT>;
  constexpr int kCols = 8 * NT;
  __shared__ float s_acc[MaxDecodeRowGroups(NT)][2][16][kCols];  // [group][row tile][row][token]
  __shared__ float s_part[kWarps / 2][2 * NT * 4][32];
  __shared__ int s_brow[kCols], s_slot[kCols];
  // gate_up reads the block table the routing kernel is still writing; down reads only the
  // (finished) routing before its wait, and the weights, which no kernel writes.
  if constexpr (kGateUp) WaitForPredecessor();
  if (static_cast<int>(blockIdx.x) >= *p.num_blocks) return;
  const BlockInfo blk = p.blocks[blockIdx.x];
  const int m = blk.end - blk.begin, ntiles = (m + 7) / 8;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  if (tid < kCols) {
    const int pos = blk.begin + min(tid, m - 1);  // columns past m repeat a real row
    const int slot = p.sorted_slots[pos];
    s_slot[tid] = slot;
    s_brow[tid] = kGateUp ? slot / p.top_k : pos;
  }
  const int K = p.K;
  const int kw = kWarps / p.row_groups, group = warp / kw, j = warp % kw;
  const int tile = p.row_groups * blockIdx.y + group;  // of 16 gate rows, or 32 down rows
  const int r0 = kGateUp ? 16 * tile : 32 * tile;
  const int r1 = kGateUp ? p.inter + 16 * tile : 32 * tile + 16;
  // Rows in bytes: a lane's 16 bytes of step s sit at s * 64 + 16 t in every format.
  const int64_t row_bytes = static_cast<int64_t>(K) * (Fmt::kU4 ? 1 : Fmt::kFp8 ? 2 : 4) / 2;
  const auto* w = static_cast<const uint8_t*>(p.weights[blk.expert]);
  const uint8_t* a_row[4] = {w + (r0 + g) * row_bytes, w + (r0 + g + 8) * row_bytes,
                             w + (r1 + g) * row_bytes, w + (r1 + g + 8) * row_bytes};
  // fp8: the scale rows of the two row tiles, a step's k block being step / 2. int4: the scale
  // and zero-point rows of the four weight rows, a step's group being the step.
  const float* scale_row[Fmt::kScales] = {};
  const uint8_t* zero_row[Fmt::kScales] = {};
  if constexpr (Fmt::kFp8) {
    const int k_blocks = (K + kMoeFp8Block - 1) / kMoeFp8Block;
    const float* sc = p.scales[blk.expert];
    scale_row[0] = sc + (r0 / kMoeFp8Block) * k_blocks;
    scale_row[1] = sc + (r1 / kMoeFp8Block) * k_blocks;
  }
  if constexpr (Fmt::kU4) {
    const int groups = K / kMoeU4Group;
    const int rows[4] = {r0 + g, r0 + g + 8, r1 + g, r1 + g + 8};
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      scale_row[r] = p.scales[blk.expert] + rows[r] * groups;
      zero_row[r] = p.zeros[blk.expert] + rows[r] * groups;
    }
  }
  const int steps = (K + Fmt::kStepK - 1) / Fmt::kStepK;
  const int s_begin = j * steps / kw, s_end = (j + 1) * steps / kw;

  float acc[2][NT][4];
#pragma unroll
  for (int r = 0; r < 2; ++r)
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[r][n][c] = 0.0f;

  // A window of kSteps k-steps lives in registers: weights and the token fragments of the same
  // steps, loaded together so their latencies overlap. A window of 4 steps (bf16, one token
  // tile) refills in two halves: as soon as a half's steps are multiplied its registers load the
  // next window's, so a warp computing one half has the other's loads in flight. Halves of a
  // single step made the shorter windows slower (fp8 and int4 at one tile, bf16 at two:
  // DeepSeek-V3 fp8 at 1 token 132 -> 144 µs, Mixtral bf16 at 64 tokens 891 -> 932), so those
  // load and multiply their window whole.
  constexpr int kSteps = Fmt::kSteps;
  constexpr int kGroup = kSteps >= 4 ? kSteps / 2 : kSteps;
  uint4 a[kSteps][4];
  uint4 xb[kSteps][NT][Fmt::kXChunks];
  float scale[kSteps][Fmt::kScales];
  uint32_t zero[kSteps][Fmt::kScales];  // int4: bf16x2 of 128 + zero point
  // Step w + u of K (w: the window's first step) into window position u.
  auto load_a = [&](int u, int w) {
    // K % kLaneK == 0: a lane's 16-byte chunk is all in or all out.
    const bool ok = w + u < s_end && (w + u) * Fmt::kStepK + Fmt::kLaneK * t < K;
#pragma unroll
    for (int r = 0; r < 4; ++r)
      a[u][r] = ok ? LoadStream(a_row[r] + (w + u) * 64 + 16 * t) : make_uint4(0, 0, 0, 0);
    if constexpr (Fmt::kFp8) {
#pragma unroll
      for (int r = 0; r < 2; ++r)
        scale[u][r] = w + u < s_end ? __ldg(scale_row[r] + (w + u) / 2) : 0.0f;
    }
    if constexpr (Fmt::kU4) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        scale[u][r] = w + u < s_end ? __ldg(scale_row[r] + w + u) : 0.0f;
        zero[u][r] = Bf16x2Of128Plus(w + u < s_end ? __ldg(zero_row[r] + w + u) : 0);
      }
    }
  };
  const __nv_bfloat16* b_row[NT];
  auto load_b = [&](int u, int w) {
    const int k = (w + u) * Fmt::kStepK + Fmt::kLaneK * t;
    const bool ok = w + u < s_end && k < K;
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int c = 0; c < Fmt::kXChunks; ++c)
        xb[u][n][c] =
            ok && n < ntiles ? LoadShared16(b_row[n] + k + 8 * c) : make_uint4(0, 0, 0, 0);
  };
  auto multiply = [&](int u) {
#pragma unroll
    for (int n = 0; n < NT; ++n) {
      if (n < ntiles) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          if constexpr (Fmt::kFp8) {
            float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            MmaStepFp8(part, a[u][2 * r], a[u][2 * r + 1], xb[u][n]);
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[r][n][c] += scale[u][r] * part[c];
          } else if constexpr (Fmt::kU4) {
            // part[0..1] belong to row g, part[2..3] to row g + 8.
            float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            MmaStepU4(part, a[u][2 * r], a[u][2 * r + 1], xb[u][n], zero[u][2 * r],
                      zero[u][2 * r + 1]);
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[r][n][c] += scale[u][2 * r + c / 2] * part[c];
          } else {
            MmaStepBf16(acc[r][n], a[u][2 * r], a[u][2 * r + 1], xb[u][n][0]);
          }
        }
      }
    }
  };
  int s = s_begin;
  if (s < s_end) {
#pragma unroll
    for (int u = 0; u < kSteps; ++u) load_a(u, s);
  }
  // down: act comes from the gate_up kernel. The first weight loads above are already in
  // flight while it finishes.
  if constexpr (!kGateUp) WaitForPredecessor();
  AllowSuccessor();
  __syncthreads();  // s_brow/s_slot set
#pragma unroll
  for (int n = 0; n < NT; ++n) b_row[n] = p.b + static_cast<int64_t>(s_brow[n * 8 + g]) * K;
  if (s < s_end) {
#pragma unroll
    for (int u = 0; u < kSteps; ++u) load_b(u, s);
  }

  constexpr int kLast = kSteps - kGroup;  // the last group reloads once the window moves on
  while (s < s_end) {
#pragma unroll
    for (int u = 0; u < kSteps; ++u) {
      if (s + u < s_end) multiply(u);
      if ((u + 1) % kGroup == 0 && u + 1 < kSteps && s + kSteps < s_end) {
#pragma unroll
        for (int v = u + 1 - kGroup; v <= u; ++v) load_a(v, s + kSteps);
#pragma unroll
        for (int v = u + 1 - kGroup; v <= u; ++v) load_b(v, s + kSteps);
      }
    }
    s += kSteps;
    if (s < s_end) {
#pragma unroll
      for (int u = kLast; u < kSteps; ++u) load_a(u, s);
#pragma unroll
      for (int u = kLast; u < kSteps; ++u) load_b(u, s);
    }
  }

  SumSplitKInOrder<NT>(acc, s_part, s_acc[group], kw, j, group * (kw / 2), lane);
  // The CTA's rows are contiguous: gate (and up) rows, or down rows, from row_base.
  if constexpr (kGateUp) {
    const int rows = 16 * p.row_groups, row_base = 16 * p.row_groups * blockIdx.y;
    auto* act = reinterpret_cast<__nv_bfloat16*>(p.act);
    const float* bias = view.gate_up_bias == nullptr
                            ? nullptr
                            : view.gate_up_bias + static_cast<int64_t>(blk.expert) * 2 * p.inter;
    for (int i = tid; i < rows * m; i += kThreads) {
      const int c = i / rows, r = i % rows;
      float gate = s_acc[r / 16][0][r % 16][c], up = s_acc[r / 16][1][r % 16][c];
      if (bias != nullptr) {
        gate += bias[row_base + r];
        up += bias[p.inter + row_base + r];
      }
      const float v = ExpertActivation(view, gate, up);
      act[static_cast<int64_t>(blk.begin + c) * p.inter + row_base + r] = __float2bfloat16_rn(v);
    }
  } else {
    const int rows = 32 * p.row_groups, row_base = 32 * p.row_groups * blockIdx.y;
    for (int i = tid; i < rows * m; i += kThreads) {
      const int c = i / rows, r = i % rows;
      const int slot = s_slot[c];
      const float v = s_acc[r / 32][r % 32 / 16][r % 16][c] * p.topk_weights[slot];
      atomicAdd(p.out + static_cast<int64_t>(slot / p.top_k) * p.hidden + row_base + r, v);
    }
  }
}

template <MoeWeightFormat F, int NT>
std::string LaunchTiles(bool gate_up, dim3 grid, bool pdl, void* stream, const DecodeParams& p,
                        const MoeWeightsView& view) {
  if (gate_up) {
    return Launch("sm90_grouped_gemm_bf16_swapab_splitk_decode<gate_up>",
                  sm90_grouped_gemm_bf16_swapab_splitk_decode<F, NT, true>, grid, dim3(kThreads), 0,
                  stream, pdl, p, view);
  }
  return Launch("sm90_grouped_gemm_bf16_swapab_splitk_decode<down>",
                sm90_grouped_gemm_bf16_swapab_splitk_decode<F, NT, false>, grid, dim3(kThreads), 0,
                stream, pdl, p, view);
}

template <MoeWeightFormat F>
std::string LaunchFormat(bool gate_up, int token_tiles, dim3 grid, bool pdl, void* stream,
                         const DecodeParams& p, const MoeWeightsView& view) {
  switch (token_tiles) {
    case 1:
      return LaunchTiles<F, 1>(gate_up, grid, pdl, stream, p, view);
    case 2:
      return LaunchTiles<F, 2>(gate_up, grid, pdl, stream, p, view);
    case 4:
      return LaunchTiles<F, 4>(gate_up, grid, pdl, stream, p, view);
    case 8:
      return LaunchTiles<F, 8>(gate_up, grid, pdl, stream, p, view);
    default:
      return "decode grouped GEMM: token_tiles must be 1, 2, 4 or 8";
  }
}

}  // namespace

std::string LaunchDecodeGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                             const void* b, const MoeWeightsView& weights,
                             const MoeWorkspaceView& ws, float* out, void* stream) {
  DecodeParams p{};
  p.b = static_cast<const __nv_bfloat16*>(b);
  p.weights = gate_up ? weights.gate_up : weights.down;
  p.scales = gate_up ? weights.gate_up_scales : weights.down_scales;
  p.zeros = gate_up ? weights.gate_up_zeros : weights.down_zeros;
  p.K = static_cast<int>(gate_up ? problem.hidden : problem.intermediate);
  p.inter = static_cast<int>(problem.intermediate);
  p.hidden = static_cast<int>(problem.hidden);
  p.top_k = problem.top_k;
  p.num_blocks = ws.num_blocks;
  p.blocks = ws.blocks;
  p.sorted_slots = ws.sorted_slots;
  p.topk_weights = ws.topk_weights;
  p.act = ws.act;
  p.out = out;
  p.row_groups = gate_up ? plan.gate_up_row_groups : plan.down_row_groups;
  if (plan.max_blocks == 0) return "";
  const std::string rows_fit =
      CheckDecodeRowGroups(gate_up, problem, plan.token_tiles, p.row_groups);
  if (!rows_fit.empty()) return "decode grouped GEMM: " + rows_fit;
  const dim3 grid(static_cast<unsigned>(plan.max_blocks),
                  static_cast<unsigned>(gate_up ? problem.intermediate / (16 * p.row_groups)
                                                : problem.hidden / (32 * p.row_groups)));
  const bool pdl = plan.programmatic_launch;
  if (weights.format == MoeWeightFormat::kU4Group128) {
    if (p.scales == nullptr || p.zeros == nullptr)
      return "decode grouped GEMM: int4 weights need their scales and zero points";
    if (p.K % kMoeU4Group != 0) return "decode grouped GEMM: int4 weights need K % 128 == 0";
    return LaunchFormat<MoeWeightFormat::kU4Group128>(gate_up, plan.token_tiles, grid, pdl, stream,
                                                      p, weights);
  }
  if (weights.format == MoeWeightFormat::kFp8Block128) {
    if (p.scales == nullptr) return "decode grouped GEMM: fp8 weights need their scales";
    return LaunchFormat<MoeWeightFormat::kFp8Block128>(gate_up, plan.token_tiles, grid, pdl, stream,
                                                       p, weights);
  }
  return LaunchFormat<MoeWeightFormat::kBf16>(gate_up, plan.token_tiles, grid, pdl, stream, p,
                                              weights);
}

}  // namespace sy::kernels
