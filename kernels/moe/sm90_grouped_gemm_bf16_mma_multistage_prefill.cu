// sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill: the grouped GEMMs of prefill, where each
// expert sees hundreds of tokens and the layer is bound by tensor-core throughput.
//
// A classic multistage tile: 128 slots x 128 outputs x 64 k per stage, 4 cp.async stages
// (128 KiB of shared memory, XOR-swizzled 128-byte rows so ldmatrix is conflict-free),
// 8 warps of 64 x 32, mma.sync m16n8k16. Rows of A are gathered on load: gate_up reads the
// token rows of x through the sorted slot list (no permuted copy of x is written), down reads
// act, already in sorted order. For gate_up the 128 outputs are 64 gate rows and the 64 up
// rows that pair with them, laid out so every thread holds both halves of its SwiGLU.
//
// Raster: groups of MoePlan::prefill_raster_group blocks sweep every output tile together
// (sm90_prefill_tile.cuh). Down writes router weight * y in bf16 per slot; sm90_moe_combine
// sums the k slots of each token.
//
// fp8 block-scaled weights (kFp8Block128): the weight tiles travel as fp8 (cp.async into a ring
// of half the size) and each thread turns the chunks it loaded into bf16 times their block
// scale, rounded to bf16, in one bf16 tile the warps then read with ldmatrix: w8a16, the same
// bf16 math as above (a 64-row half of a tile and a 64-wide k tile never cross a 128 block,
// so every 16-byte chunk has one scale).
//
// bf16 layers whose shapes fit take the wgmma kernel (sm90_grouped_gemm_bf16_wgmma_ws_prefill.cu)
// instead: mma.sync tops out near 60% of Hopper's tensor cores. docs/cuda-kernels.md has both.
#include <algorithm>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_prefill_tile.cuh"

namespace sy::kernels {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 64, kStages = 4, kThreads = 256;
constexpr int kStageElems = kBM * kBK;
// bf16: A and B rings. fp8: the A ring, an fp8 B ring and the one bf16 B tile it is turned into.
constexpr size_t kSmemBytes = sizeof(__nv_bfloat16) * 2 * kStages * kStageElems;
constexpr size_t kSmemBytesFp8 =
    sizeof(__nv_bfloat16) * (kStages + 1) * kStageElems + kStages * kStageElems;

template <bool kFp8, bool kGateUp>
__global__ void __launch_bounds__(kThreads, 1)
    sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill(PrefillGemmParams p) {
  extern __shared__ __align__(128) unsigned char smem[];
  auto* s_a = reinterpret_cast<__nv_bfloat16*>(smem);
  auto* s_b = s_a + kStages * kStageElems;  // bf16: the B ring; fp8: the one bf16 B tile
  uint8_t* s_b8 = reinterpret_cast<uint8_t*>(s_b + kStageElems);  // fp8: the B ring [128][64]
  __shared__ int s_arow[kBM], s_slot[kBM];

  // The raster walks slices of blocks: 128 slots each (blocks of 256 have two).
  const PrefillTile tile = PrefillTileOfThisCta(p.n_tiles, p.raster_group);
  const int n_tile = tile.n_tile, block = tile.block / p.block_slices;
  if constexpr (kGateUp) WaitForPredecessor();  // the block table
  if (block >= *p.ws.num_blocks) return;
  BlockInfo blk = p.ws.blocks[block];
  blk.begin += kBM * (tile.block % p.block_slices);
  blk.end = min(blk.end, blk.begin + kBM);
  if (blk.begin >= blk.end) return;
  const int m = blk.end - blk.begin;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  LoadBlockRows<kGateUp>(p, blk, kBM, s_slot, s_arow);
  __syncthreads();

  const int K = p.K;
  // The weight row behind row `row` of the B tile: gate_up pairs 64 gate rows with their 64 up
  // rows.
  auto weight_row = [&](int row) {
    return kGateUp ? (row < 64 ? 64 * n_tile + row : p.inter + 64 * n_tile + row - 64)
                   : kBN * n_tile + row;
  };
  const int chunk = tid % 8;
  const __nv_bfloat16* a_src[4];
  const __nv_bfloat16* b_src[4];
  int s_off[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = tid / 8 + 32 * i;
    a_src[i] = p.a + static_cast<int64_t>(s_arow[row]) * K + chunk * 8;
    if constexpr (!kFp8) {
      b_src[i] = static_cast<const __nv_bfloat16*>(p.weights[blk.expert]) +
                 static_cast<int64_t>(weight_row(row)) * K + chunk * 8;
    }
    s_off[i] = Swizzle128(row, chunk);
  }
  // fp8: a thread loads, and later dequantizes, the 16-byte chunks tid % 4 of rows tid / 4 and
  // tid / 4 + 64 of the [128][64] byte tile (unswizzled: consecutive threads, consecutive
  // chunks), so it only waits for its own copies before reading them.
  const uint8_t* b8_src[2];
  const float* b8_scales[2];
  if constexpr (kFp8) {
    const auto* w8 = static_cast<const uint8_t*>(p.weights[blk.expert]);
    const int k_blocks = (K + kMoeFp8Block - 1) / kMoeFp8Block;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int w_row = weight_row(tid / 4 + 64 * i);
      b8_src[i] = w8 + static_cast<int64_t>(w_row) * K + (tid % 4) * 16;
      b8_scales[i] = p.scales[blk.expert] + (w_row / kMoeFp8Block) * k_blocks;
    }
  }
  auto load_a = [&](int stage, int kt) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
      CpAsync16(s_a + stage * kStageElems + s_off[i], a_src[i] + kt * kBK);
  };
  auto load_b = [&](int stage, int kt) {
    if constexpr (kFp8) {
#pragma unroll
      for (int i = 0; i < 2; ++i)
        CpAsync16(s_b8 + stage * kStageElems + (tid + 256 * i) * 16, b8_src[i] + kt * kBK);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        CpAsync16(s_b + stage * kStageElems + s_off[i], b_src[i] + kt * kBK);
    }
  };
  // fp8: this thread's chunks of stage `stage` (k tile kt) into the bf16 tile, times their
  // scales. 16 fp8 of row r at k 16c..16c+15 become bf16 chunks 2c and 2c + 1 of that row.
  auto dequantize_b = [&](int stage, int kt) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int row = tid / 4 + 64 * i, c = tid % 4;
      const uint4 v =
          *reinterpret_cast<const uint4*>(s_b8 + stage * kStageElems + (tid + 256 * i) * 16);
      const float scale = b8_scales[i][kt * kBK / kMoeFp8Block];
      *reinterpret_cast<uint4*>(s_b + Swizzle128(row, 2 * c)) = DequantizeFp8x8(v.x, v.y, scale);
      *reinterpret_cast<uint4*>(s_b + Swizzle128(row, 2 * c + 1)) =
          DequantizeFp8x8(v.z, v.w, scale);
    }
  };

  const int k_tiles = K / kBK;
  // Weight tiles do not depend on the previous kernel: start them before waiting for act.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s)
    if (s < k_tiles) load_b(s, s);
  if constexpr (!kGateUp) WaitForPredecessor();
  AllowSuccessor();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_a(s, s);
    CpAsyncCommit();
  }

  const int warp_m = warp / 4, warp_n = warp % 4;
  // Rows of the B tile each ldmatrix.x4 covers (16 outputs): gate_up pairs gate and up.
  const int b_rows[2] = {kGateUp ? 16 * warp_n : 32 * warp_n,
                         kGateUp ? 64 + 16 * warp_n : 32 * warp_n + 16};
  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;

  for (int kt = 0; kt < k_tiles; ++kt) {
    CpAsyncWait<kStages - 2>();
    __syncthreads();
    const int next = kt + kStages - 1;
    if (next < k_tiles) {
      load_a(next % kStages, next);
      load_b(next % kStages, next);
    }
    CpAsyncCommit();
    const __nv_bfloat16* a_tile = s_a + (kt % kStages) * kStageElems;
    const __nv_bfloat16* b_tile = s_b;
    if constexpr (kFp8) {
      // The barrier above also means every warp is done reading the previous bf16 tile.
      dequantize_b(kt % kStages, kt);
      __syncthreads();
    } else {
      b_tile += (kt % kStages) * kStageElems;
    }
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t af[4][4], bf[2][4];
#pragma unroll
      for (int mf = 0; mf < 4; ++mf) {
        const int row = warp_m * 64 + mf * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
        LdMatrixX4(af[mf], a_tile + Swizzle128(row, kk * 2 + lane / 16));
      }
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const int row = b_rows[q] + (lane % 8) + (lane / 16) * 8;
        LdMatrixX4(bf[q], b_tile + Swizzle128(row, kk * 2 + (lane / 8) % 2));
      }
#pragma unroll
      for (int mf = 0; mf < 4; ++mf)
#pragma unroll
        for (int nf = 0; nf < 4; ++nf)
          MmaBf16(acc[mf][nf], af[mf][0], af[mf][1], af[mf][2], af[mf][3], bf[nf / 2][2 * (nf % 2)],
                  bf[nf / 2][2 * (nf % 2) + 1]);
    }
  }
  CpAsyncWait<0>();

#pragma unroll
  for (int mf = 0; mf < 4; ++mf) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = warp_m * 64 + mf * 16 + g + 8 * half;
      if (row >= m) continue;
      if constexpr (kGateUp) {
        auto* act = reinterpret_cast<uint32_t*>(p.ws.act);
        const float* bias = GateUpBias(p, blk.expert);
#pragma unroll
        for (int nf = 0; nf < 2; ++nf) {
          const int i = 64 * n_tile + 16 * warp_n + 8 * nf + 2 * t;
          const float* gate = &acc[mf][nf][2 * half];
          const float* up = &acc[mf][nf + 2][2 * half];
          act[(static_cast<int64_t>(blk.begin + row) * p.inter + i) / 2] =
              ActivatePair(p, bias, i, gate[0], gate[1], up[0], up[1]);
        }
      } else {
        auto* rows_out = reinterpret_cast<uint32_t*>(p.ws.rows_out);
        const int slot = s_slot[row];
        const float weight = p.ws.topk_weights[slot];
#pragma unroll
        for (int nf = 0; nf < 4; ++nf) {
          const int h = kBN * n_tile + 32 * warp_n + 8 * nf + 2 * t;
          rows_out[(static_cast<int64_t>(slot) * p.hidden + h) / 2] =
              PackBf16(weight * acc[mf][nf][2 * half], weight * acc[mf][nf][2 * half + 1]);
        }
      }
    }
  }
}

template <bool kFp8, bool kGateUp>
std::string LaunchKernel(dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p) {
  auto* kernel = sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill<kFp8, kGateUp>;
  const size_t smem = kFp8 ? kSmemBytesFp8 : kSmemBytes;
  // Above 48 KiB of dynamic shared memory a kernel must opt in (once; cheap to repeat).
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem)) != cudaSuccess) {
    return LaunchError("sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill: smem attribute");
  }
  return Launch(kGateUp ? "sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill<gate_up>"
                        : "sm90_grouped_gemm_bf16_mma_128x128x64_s4_prefill<down>",
                kernel, grid, dim3(kThreads), smem, stream, pdl, p);
}

}  // namespace

std::string LaunchMmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                 const void* a, const MoeWeightsView& weights,
                                 const MoeWorkspaceView& ws, void* stream) {
  if (problem.intermediate % 64 != 0 || problem.hidden % 128 != 0)
    return "prefill grouped GEMM: needs intermediate % 64 == 0 and hidden % 128 == 0";
  if (weights.format == MoeWeightFormat::kU4Group128)
    return "prefill grouped GEMM: int4 weights run on the decode path "
           "(MoePlanOptions::format)";
  if (plan.max_blocks == 0) return "";
  PrefillGemmParams p =
      MakePrefillGemmParams(gate_up, problem, plan, a, weights, ws,
                            gate_up ? problem.intermediate / 64 : problem.hidden / kBN);
  // Blocks of 256 (planned for the wgmma kernels, which a device other than sm_90 does not run)
  // take two CTAs of 128 slots each.
  p.block_slices = std::max(1, plan.block_m / kBM);
  const dim3 grid = PrefillGrid(plan, p.n_tiles, p.block_slices);
  const bool pdl = plan.programmatic_launch;
  if (weights.format == MoeWeightFormat::kFp8Block128) {
    if (p.scales == nullptr) return "prefill grouped GEMM: fp8 weights need their scales";
    return gate_up ? LaunchKernel<true, true>(grid, pdl, stream, p)
                   : LaunchKernel<true, false>(grid, pdl, stream, p);
  }
  return gate_up ? LaunchKernel<false, true>(grid, pdl, stream, p)
                 : LaunchKernel<false, false>(grid, pdl, stream, p);
}

}  // namespace sy::kernels
