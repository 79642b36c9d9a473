// sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill: the grouped GEMMs of prefill on Hopper's
// own path with bf16 activations, for bf16 or fp8 block-128 weights (w8a16: the plan keeps
// activations bf16) where I % 128 == 0 and H % 256 == 0. fp8 weights with fp8 activations (w8a8)
// run in sm90_grouped_gemm_fp8_wgmma_ws_prefill.cu; the mma.sync kernel in
// sm90_grouped_gemm_bf16_mma_multistage_prefill.cu takes the other shapes.
//
// One CTA computes a 128-slot x 256-output tile of one expert block, warp-specialised:
//   - a producer fills a ring of 4 stages (48 KiB each), 64 k at a time, with A (slot rows) and
//     B (weight rows). With bf16 weights one thread copies both through TMA: B through the
//     expert's tensor map (sm90_tensor_maps.cuh), A through a map of act (down) or of x's rows
//     gathered into sorted order first (gate_up: sm90_gather_sorted_rows, as Hopper's TMA has
//     no row gather); the bytes complete the stage's "full" mbarrier as they land;
//   - two consumer warpgroups each multiply their 64 slot rows by all 256 weight rows with
//     wgmma.m64n256k16 straight from shared memory (no ldmatrix, no register fragments of A or
//     B), keep one wgmma group in flight, and free a stage on its "empty" mbarrier once the
//     wgmma reading it has finished.
// Registers move from the producer (40) to the consumers (232): each holds 128 f32 accumulators.
//
// fp8 block-128 weights (w8a16): the producer warpgroup gathers A with cp.async (each thread's
// copies arrive on the stage's full mbarrier as they land, cp.async.mbarrier.arrive.noinc) and
// loads each k tile's weight bytes into registers one tile ahead (ld.global, 8 x 16 bytes a
// thread), multiplies them by their block scale into bf16 and stores them into the same swizzled
// B tile, then fences them for the async proxy and arrives on the stage's full mbarrier itself.
// It keeps a k tile in registers, so this variant leaves the register split as compiled (168
// each).
//
// Why TMA (docs/cuda-kernels.md): with every operand copied by 128 threads' cp.async the
// producer, not the MMA, set the pace (Mixtral at 4096 tokens: 6.40 ms a layer; 4.21 ms with no
// copies at all). The gather costs a write and a read of T k H bf16 (Mixtral: 64 MB, ~30 us).
//
// gate_up: the 256 outputs are 128 gate rows and the 128 up rows that pair with them, so act gets
// 128 columns (StoreWgmmaTile, sm90_prefill_tile.cuh). down: router weight * y in bf16 per slot
// into rows_out; sm90_moe_combine sums each token's k slots (deterministic). Raster as the mma.sync
// kernel: groups of 8 blocks sweep every output tile together, so the group's A rows stay in L2
// while each weight tile streams once.
#include <cuda_bf16.h>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_prefill_tile.cuh"
#include "kernels/moe/sm90_tensor_maps.cuh"
#include "kernels/moe/sm90_wgmma.cuh"

namespace sy::kernels {
namespace {

constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 4;
constexpr int kConsumers = 2, kThreads = 128 * (1 + kConsumers);
// (maybe_unused: the portable PTX build of the kernel below is only a trap.)
[[maybe_unused]] constexpr int kProducerRegisters = 40, kConsumerRegisters = 232;
constexpr int kATileElems = kBM * kBK, kBTileElems = kBN * kBK;
constexpr size_t kStageBytes = sizeof(__nv_bfloat16) * (kATileElems + kBTileElems);
// The ring, plus slack to align it to the 1024 bytes the swizzle pattern repeats over.
constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;

struct PipelineBarriers {
  uint64_t full[kStages];   // the producer's copies of a stage landed
  uint64_t empty[kStages];  // every consumer warp is done reading a stage
};

// Producer thread `pt`'s cp.async copies of k tile `kt` of A into `s_a`: 16-byte chunk pt % 8 of
// slot rows pt / 8 + 16 i.
[[maybe_unused]] __device__ __forceinline__ void CopyATile(const PrefillGemmParams& p,
                                                           const int* s_arow, __nv_bfloat16* s_a,
                                                           int kt, int pt) {
  const int chunk = pt % 8, k = kt * kBK + chunk * 8;
#pragma unroll
  for (int i = 0; i < kBM / 16; ++i) {
    const int row = pt / 8 + 16 * i;
    CpAsync16(s_a + Swizzle128(row, chunk), p.a + static_cast<int64_t>(s_arow[row]) * p.K + k);
  }
}

// The producer for bf16 weights, one thread: each k tile of A (down: act's rows; gate_up: x's
// rows gathered into sorted order by sm90_gather_sorted_rows; both from the block's first
// position) and of B (gate_up: the tile's 128 gate rows and 128 up rows; down: 256 rows) through
// TMA. The bytes complete the stage's full mbarrier as they land.
template <bool kGateUp>
__device__ void ProduceTilesTma(const PrefillGemmParams& p, const CUtensorMap& a_map,
                                const BlockInfo& blk, int n_tile, __nv_bfloat16* ring,
                                PipelineBarriers& bars) {
  const auto* w_map = static_cast<const CUtensorMap*>(p.weight_maps) + blk.expert;
  AcquireTensorMap(w_map);
  const int k_tiles = p.K / kBK;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    if (kt >= kStages) MbarrierWait(&bars.empty[stage], (kt / kStages - 1) & 1);
    __nv_bfloat16* s_a = ring + stage * (kATileElems + kBTileElems);
    __nv_bfloat16* s_b = s_a + kATileElems;
    uint64_t* full = &bars.full[stage];
    MbarrierArriveExpectTx(full, kStageBytes);
    TmaLoadTile(s_a, &a_map, kt * kBK, blk.begin, full);
    if constexpr (kGateUp) {
      TmaLoadTile(s_b, w_map, kt * kBK, kBN / 2 * n_tile, full);
      TmaLoadTile(s_b + kBN / 2 * kBK, w_map, kt * kBK, p.inter + kBN / 2 * n_tile, full);
    } else {
      TmaLoadTile(s_b, w_map, kt * kBK, kBN * n_tile, full);
    }
  }
}

// The producer for fp8 weights: A through cp.async (CopyATile); thread `pt` turns 16-byte fp8 chunk
// pt % 4 of weight rows pt / 4 + 32 i into bf16 chunks 2 (pt % 4) and 2 (pt % 4) + 1 of the B tile.
// A 64-wide k tile never crosses a 128 block, nor does a row's 128-row block change within the
// tile's gate or up half, so each chunk has one scale.
template <bool kGateUp>
__device__ void ProduceTilesFp8(const PrefillGemmParams& p, int expert, int n_tile,
                                const int* s_arow, __nv_bfloat16* ring, PipelineBarriers& bars,
                                int pt) {
  constexpr int kRowsPerThread = kBN / 32;
  const int b_chunk = pt % 4, b_row0 = pt / 4;
  const int k_tiles = p.K / kBK;
  const int k_blocks = (p.K + kMoeFp8Block - 1) / kMoeFp8Block;
  const auto* w = static_cast<const uint8_t*>(p.weights[expert]);
  const float* scales = p.scales[expert];
  auto load_b = [&](int kt, uint4(&v)[kRowsPerThread]) {
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int w_row = WgmmaTileWeightRow<kBN, kGateUp>(p, n_tile, b_row0 + 32 * i);
      v[i] = LoadStream(w + static_cast<int64_t>(w_row) * p.K + kt * kBK + b_chunk * 16);
    }
  };
  uint4 next[kRowsPerThread];
  load_b(0, next);
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    if (kt >= kStages) MbarrierWait(&bars.empty[stage], (kt / kStages - 1) & 1);
    __nv_bfloat16* s_a = ring + stage * (kATileElems + kBTileElems);
    __nv_bfloat16* s_b = s_a + kATileElems;
    CopyATile(p, s_arow, s_a, kt, pt);
    CpAsyncArriveOnMbarrier(&bars.full[stage]);
    uint4 cur[kRowsPerThread];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) cur[i] = next[i];
    if (kt + 1 < k_tiles) load_b(kt + 1, next);  // in flight while this tile is converted
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int row = b_row0 + 32 * i;
      const int w_row = WgmmaTileWeightRow<kBN, kGateUp>(p, n_tile, row);
      const float scale = scales[(w_row / kMoeFp8Block) * k_blocks + kt * kBK / kMoeFp8Block];
      *reinterpret_cast<uint4*>(s_b + Swizzle128(row, 2 * b_chunk)) =
          DequantizeFp8x8(cur[i].x, cur[i].y, scale);
      *reinterpret_cast<uint4*>(s_b + Swizzle128(row, 2 * b_chunk + 1)) =
          DequantizeFp8x8(cur[i].z, cur[i].w, scale);
    }
    FenceProxyAsyncShared();
    MbarrierArrive(&bars.full[stage]);
  }
  CpAsyncWait<0>();
}

// Consumer warpgroup `wg` (0 or 1): slot rows 64 wg .. 64 wg + 63 of the tile, all 256 outputs.
template <bool kFp8>
__device__ __forceinline__ void ConsumeTiles(const PrefillGemmParams& p, int wg,
                                             __nv_bfloat16* ring, PipelineBarriers& bars,
                                             float (&acc)[128]) {
  const int k_tiles = p.K / kBK;
  const bool signals = threadIdx.x % 32 == 0;  // one arrival per consumer warp
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    MbarrierWait(&bars.full[stage], (kt / kStages) & 1);
    // fp8: A's copies and B's stores were made through the generic proxy; wgmma reads through
    // the async one (as TMA writes).
    if constexpr (kFp8) FenceProxyAsyncShared();
    const __nv_bfloat16* s_a = ring + stage * (kATileElems + kBTileElems);
    const uint64_t a = WgmmaDescriptorSw128(s_a + wg * 64 * kBK);
    const uint64_t b = WgmmaDescriptorSw128(s_a + kATileElems);
    WgmmaFence();
#pragma unroll
    for (int k16 = 0; k16 < kBK / 16; ++k16) {
      WgmmaM64N256K16Bf16(acc, WgmmaDescriptorAdvanceK(a, k16), WgmmaDescriptorAdvanceK(b, k16),
                          kt > 0 || k16 > 0);
    }
    WgmmaCommit();
    // The previous tile's wgmma group is done: its stage can be refilled.
    WgmmaWait<1>();
    if (kt > 0 && signals) MbarrierArrive(&bars.empty[(kt - 1) % kStages]);
  }
  WgmmaWait<0>();
}

// `a_map`: with bf16 weights, this GEMM's A [slots, K] (gate_up: x's rows in sorted order, down:
// act); unused with fp8 weights.
template <bool kFp8, bool kGateUp>
__global__ void __launch_bounds__(kThreads, 1)
    sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill(PrefillGemmParams p,
                                                       const __grid_constant__ CUtensorMap a_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  __shared__ int s_arow[kBM], s_slot[kBM];
  __shared__ PipelineBarriers bars;
  auto* ring = reinterpret_cast<__nv_bfloat16*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) &
                                                ~uintptr_t{1023});

  const PrefillTile tile = PrefillTileOfThisCta(p.n_tiles);
  const int n_tile = tile.n_tile;
  // The block table (routing), and for down also act (gate_up), come from the kernels before.
  WaitForPredecessor();
  AllowSuccessor();
  if (tile.block >= *p.ws.num_blocks) return;
  const BlockInfo blk = p.ws.blocks[tile.block];
  LoadBlockRows<kGateUp>(p, blk, kBM, s_slot, s_arow);
  const int tid = threadIdx.x;
  if (tid < kStages) {
    // fp8: every producer thread's copies of A, then its stores of B; bf16: the TMA issuer.
    MbarrierInit(&bars.full[tid], kFp8 ? 256 : 1);
    MbarrierInit(&bars.empty[tid], 4 * kConsumers);  // one arrival per consumer warp
  }
  __syncthreads();

  const int wg = tid / 128;
  if (wg == kConsumers) {
    if constexpr (kFp8) {
      ProduceTilesFp8<kGateUp>(p, blk.expert, n_tile, s_arow, ring, bars, tid % 128);
    } else {
      WarpgroupReleaseRegisters<kProducerRegisters>();
      if (tid % 128 == 0) ProduceTilesTma<kGateUp>(p, a_map, blk, n_tile, ring, bars);
    }
  } else {
    if constexpr (!kFp8) WarpgroupTakeRegisters<kConsumerRegisters>();
    float acc[128];
    ConsumeTiles<kFp8>(p, wg, ring, bars, acc);
    StoreWgmmaTile<kBN, kGateUp>(p, blk, n_tile, wg, s_slot, acc);
  }
#else
  // The portable PTX (compute_90) has no wgmma; WgmmaPrefillFits selects this kernel on sm_90
  // devices only, which run the sm_90a code.
  __trap();
#endif
}

template <bool kFp8, bool kGateUp>
std::string LaunchKernel(dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p,
                         const CUtensorMap& a_map) {
  auto* kernel = sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill<kFp8, kGateUp>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSmemBytes)) != cudaSuccess) {
    return LaunchError("sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill: smem attribute");
  }
  return Launch(kGateUp ? "sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill<gate_up>"
                        : "sm90_grouped_gemm_bf16_wgmma_128x256x64_ws_prefill<down>",
                kernel, grid, dim3(kThreads), kSmemBytes, stream, pdl, p, a_map);
}

}  // namespace

bool WgmmaPrefillFits(const MoeProblem& problem, const MoeWeightsView& weights) {
  if (!WgmmaPrefillShapeFits(problem, weights.format)) return false;
  // wgmma and setmaxnreg exist on sm_90 only (sm_90a code); other devices JIT the portable PTX.
  int device = 0, major = 0, minor = 0;
  return cudaGetDevice(&device) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
         cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess &&
         major == 9 && minor == 0;
}

std::string LaunchWgmmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                   const void* a, const MoeWeightsView& weights,
                                   const MoeWorkspaceView& ws, void* stream) {
  if (!WgmmaPrefillFits(problem, weights))
    return "bf16 wgmma prefill grouped GEMM: needs bf16 or fp8 block-128 weights, intermediate % "
           "128 == 0 and hidden % 256 == 0";
  if (plan.max_blocks == 0) return "";
  PrefillGemmParams p =
      MakePrefillGemmParams(gate_up, problem, a, weights, ws,
                            gate_up ? problem.intermediate / (kBN / 2) : problem.hidden / kBN);
  const dim3 grid = PrefillGrid(plan, p.n_tiles);
  const bool pdl = plan.programmatic_launch;
  CUtensorMap a_map{};
  if (weights.format == MoeWeightFormat::kFp8Block128) {
    if (p.scales == nullptr) return "wgmma prefill grouped GEMM: fp8 weights need their scales";
    return gate_up ? LaunchKernel<true, true>(grid, pdl, stream, p, a_map)
                   : LaunchKernel<true, false>(grid, pdl, stream, p, a_map);
  }
  if (std::string err = WritePrefillWeightMaps(gate_up, problem, TensorMapElement::kBf16, kBN, ws,
                                               pdl, stream, p);
      !err.empty()) {
    return err;
  }
  // A: gate_up's x rows, gathered in sorted order into rows_out (free until down writes it);
  // down's act.
  if (gate_up) {
    if (std::string err = LaunchGatherSortedRows(problem, plan, a, ws, ws.rows_out, stream);
        !err.empty()) {
      return err;
    }
  }
  const std::string err =
      EncodeOperandTensorMap(&a_map, gate_up ? ws.rows_out : ws.act, TensorMapElement::kBf16,
                             problem.tokens * problem.top_k, p.K, kBM);
  if (!err.empty()) return err;
  return gate_up ? LaunchKernel<false, true>(grid, pdl, stream, p, a_map)
                 : LaunchKernel<false, false>(grid, pdl, stream, p, a_map);
}

}  // namespace sy::kernels
