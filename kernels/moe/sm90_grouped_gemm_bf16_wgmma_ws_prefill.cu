// sm90_grouped_gemm_bf16_wgmma_{128,128|64}x256x64_ws_prefill and ..._256x128|128|64x256x64_...:
// the grouped GEMMs of prefill on Hopper's own path with bf16 activations, for bf16 or fp8
// block-128 weights (w8a16: the plan keeps activations bf16) where I % 128 == 0 and H % 256 == 0.
// fp8 weights with fp8 activations (w8a8) run in sm90_grouped_gemm_fp8_wgmma_ws_prefill.cu; the
// mma.sync kernel in sm90_grouped_gemm_bf16_mma_multistage_prefill.cu takes the other shapes.
//
// Each CTA fits its tile to its expert block. bf16 weights run blocks of up to 256 slots
// (MoePlan::block_m = 256) on three tiles:
//   - more than 128 slots: the tall tile, 256 slots x 128 outputs, in 64-row chunks of which the
//     CTA loads and multiplies only those its block fills (the launch's grid is in 128-output
//     tiles: kBN = 128);
//   - 65 to 128: 128 x 256; at most 64: 64 x 256, the half tile (the CTAs of even output tiles
//     take two of 128; the odd ones have nothing to do). 256 outputs read fewer operand bytes
//     per MMA than 128.
// An expert of 139 slots then runs 192 rows in one CTA per output tile, where blocks of 128 ran
// 256 in two, or a 128-slot tile and a half tile that stopped sharing the expert's weight tile
// through L2: each weight tile is read once per block and the MMA work is the slots rounded up to
// 64. fp8 weights (w8a16) run blocks of 128 on the 128 x 256 tile (kBN = 256), and blocks of 128
// forced for bf16 run it too, with the half tile for blocks of at most 64 slots where
// MoePlan::prefill_half_tiles says so. Warp-specialised:
//   - a producer fills a ring of 4 stages (48 KiB each), 64 k at a time, with A (slot rows) and
//     B (weight rows). With bf16 weights one thread copies both through TMA: B through the
//     expert's tensor map (sm90_tensor_maps.cuh), A through a map of act (down) or of x's rows
//     gathered into sorted order first (gate_up: sm90_gather_sorted_rows, as Hopper's TMA has
//     no row gather); the bytes complete the stage's "full" mbarrier as they land;
//   - two consumer warpgroups each multiply their 64 slot rows by all 256 weight rows with
//     wgmma.m64n256k16 (the half tile: all 64 rows by 128 weight rows each; the tall tile: up to
//     two 64-row chunks each by all 128, m64n128k16) straight from shared memory (no ldmatrix, no
//     register fragments of A or B), keep one wgmma group in flight, and free a stage on its
//     "empty" mbarrier once the wgmma reading it has finished.
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
// gate_up: the 256 (128) outputs are 128 (64) gate rows and the up rows that pair with them, so
// act gets 128 (64) columns (StoreWgmmaTile, sm90_prefill_tile.cuh). down: router weight * y in
// bf16 per slot into rows_out; sm90_moe_combine sums each token's k slots (deterministic). Raster
// as the mma.sync kernel: groups of MoePlan::prefill_raster_group blocks sweep every output tile
// together (sm90_prefill_tile.cuh).
#include <cuda_bf16.h>

#include <algorithm>
#include <type_traits>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_prefill_tile.cuh"
#include "kernels/moe/sm90_tensor_maps.cuh"
#include "kernels/moe/sm90_wgmma.cuh"

namespace sy::kernels {
namespace {

// Every tile's ring has 4 stages. With 5 for the 64-slot tile (201 KiB of shared memory, not 193)
// the launch that holds it ran the same tiles up to 6% slower (Qwen3-30B-A3B at 2048 tokens: 634
// against 598 µs); our reading is the smaller L1 that the larger carve-out leaves.
constexpr int kBK = 64, kStages = 4;
constexpr int kConsumers = 2, kThreads = 128 * (1 + kConsumers);
// (maybe_unused: the portable PTX build of the kernel below is only a trap.)
[[maybe_unused]] constexpr int kProducerRegisters = 40, kConsumerRegisters = 232;
// TMA boxes of A and of gate_up's B: 64 rows, so one set of tensor maps serves every tile.
constexpr int kPrefillBoxRows = 64;
// The tall tile's outputs (kBN = 128: 256 x 128 tiles); the other tiles have 256.
constexpr int kTallBN = 128, kTallBM = 256;
// TMA boxes of down's B: the tall tile's 128 rows, two for the other tiles.
constexpr int kDownBoxRows = kTallBN;

// The tile of `kBM` slot rows x `kBN` outputs (128 x 256, the half tile 64 x 256, the tall tile
// 256 x 128): 4 stages of at most 48 KiB.
template <int kBM, int kBN>
struct Tile {
  static constexpr int kATileElems = kBM * kBK;
  static constexpr int kBTileElems = kBN * kBK;
  static constexpr size_t kStageBytes = sizeof(__nv_bfloat16) * (kATileElems + kBTileElems);
  // The ring, plus slack to align it to the 1024 bytes the swizzle pattern repeats over.
  static constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;
};

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
  for (int i = 0; i < 128 / 16; ++i) {
    const int row = pt / 8 + 16 * i;
    CpAsync16(s_a + Swizzle128(row, chunk), p.a + static_cast<int64_t>(s_arow[row]) * p.K + k);
  }
}

// The producer for bf16 weights, one thread: each k tile of A (down: act's rows; gate_up: x's
// rows gathered into sorted order by sm90_gather_sorted_rows; both from the block's first
// position, in `a_boxes` boxes of 64 rows: the tall tile loads only the chunks its block fills)
// and of B through TMA. B's kBN rows: down's weight rows in boxes of 128; gate_up's kBN / 2 gate
// rows and the kBN / 2 up rows that pair with them, in boxes of 64 rows: gate boxes then up boxes
// (each consumer's wgmma then covers gate and up columns alike), except for the half tile,
// which puts gate and up box by box (each consumer's 128 columns are one 64 x 128 gate_up tile
// of its own). The bytes complete the stage's full mbarrier as they land.
template <bool kGateUp, int kBM, int kBN>
__device__ void ProduceTilesTma(const PrefillGemmParams& p, const CUtensorMap& a_map,
                                const BlockInfo& blk, int n_tile, int a_boxes, __nv_bfloat16* ring,
                                PipelineBarriers& bars) {
  using T = Tile<kBM, kBN>;
  constexpr int kBoxElems = kPrefillBoxRows * kBK, kGateBoxes = kBN / 2 / kPrefillBoxRows;
  const auto* w_map = static_cast<const CUtensorMap*>(p.weight_maps) + blk.expert;
  AcquireTensorMap(w_map);
  const uint32_t stage_bytes = sizeof(__nv_bfloat16) * (a_boxes * kBoxElems + T::kBTileElems);
  const int k_tiles = p.K / kBK;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    if (kt >= kStages) MbarrierWait(&bars.empty[stage], (kt / kStages - 1) & 1);
    __nv_bfloat16* s_a = ring + stage * (T::kATileElems + T::kBTileElems);
    __nv_bfloat16* s_b = s_a + T::kATileElems;
    uint64_t* full = &bars.full[stage];
    MbarrierArriveExpectTx(full, stage_bytes);
    for (int box = 0; box < a_boxes; ++box) {
      TmaLoadTile(s_a + box * kBoxElems, &a_map, kt * kBK, blk.begin + box * kPrefillBoxRows, full);
    }
    if constexpr (kGateUp) {
#pragma unroll
      for (int box = 0; box < kGateBoxes; ++box) {
        const int gate_row = kBN / 2 * n_tile + kPrefillBoxRows * box;
        const int gate_at = kBM == 64 ? 2 * box : box,
                  up_at = kBM == 64 ? 2 * box + 1 : kGateBoxes + box;
        TmaLoadTile(s_b + gate_at * kBoxElems, w_map, kt * kBK, gate_row, full);
        TmaLoadTile(s_b + up_at * kBoxElems, w_map, kt * kBK, p.inter + gate_row, full);
      }
    } else {
#pragma unroll
      for (int box = 0; box < kBN / kDownBoxRows; ++box) {
        TmaLoadTile(s_b + box * kDownBoxRows * kBK, w_map, kt * kBK,
                    kBN * n_tile + kDownBoxRows * box, full);
      }
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
  constexpr int kBN = 256;
  using T = Tile<128, kBN>;
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
    __nv_bfloat16* s_a = ring + stage * (T::kATileElems + T::kBTileElems);
    __nv_bfloat16* s_b = s_a + T::kATileElems;
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

// A consumer thread's accumulators: one wgmma fragment (sm90_wgmma.cuh), or for the tall tile
// one 64 x 128 fragment per chunk it multiplies.
template <int kBM, int kBN>
using Accumulators = std::conditional_t<kBN == kTallBN, float[kTallBM / 64 / kConsumers][64],
                                        float[kBM * kBN / 256]>;

// Consumer warpgroup `wg` (0 or 1). kBM = 128: slot rows 64 wg .. 64 wg + 63 of the tile, all
// 256 outputs (wgmma.m64n256k16). kBM = 64: all 64 slot rows, outputs 128 wg .. 128 wg + 127
// (m64n128k16); the two consumers share each A tile. The tall tile: kChunks (1 or 2) of the
// block's 64-row chunks, wg and wg + 2, by all 128 outputs (m64n128k16, B shared). A compile-time
// count: a wgmma behind a branch on the block's chunks made ptxas serialise every wgmma of the
// kernel (C7520), and the tile ran 25% slower.
template <bool kFp8, int kBM, int kBN, int kChunks = 1>
__device__ __forceinline__ void ConsumeTiles(const PrefillGemmParams& p, int wg,
                                             __nv_bfloat16* ring, PipelineBarriers& bars,
                                             Accumulators<kBM, kBN>& acc) {
  using T = Tile<kBM, kBN>;
  const int k_tiles = p.K / kBK;
  const bool signals = threadIdx.x % 32 == 0;  // one arrival per consumer warp
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    MbarrierWait(&bars.full[stage], (kt / kStages) & 1);
    // fp8: A's copies and B's stores were made through the generic proxy; wgmma reads through
    // the async one (as TMA writes).
    if constexpr (kFp8) FenceProxyAsyncShared();
    const __nv_bfloat16* s_a = ring + stage * (T::kATileElems + T::kBTileElems);
    const __nv_bfloat16* s_b = s_a + T::kATileElems;
    WgmmaFence();
#pragma unroll
    for (int k16 = 0; k16 < kBK / 16; ++k16) {
      const int accumulate = kt > 0 || k16 > 0;
      if constexpr (kBN == kTallBN) {
        const uint64_t b = WgmmaDescriptorAdvanceK(WgmmaDescriptorSw128(s_b), k16);
#pragma unroll
        for (int i = 0; i < kChunks; ++i) {
          const uint64_t a = WgmmaDescriptorSw128(s_a + (wg + kConsumers * i) * 64 * kBK);
          WgmmaM64N128K16Bf16(acc[i], WgmmaDescriptorAdvanceK(a, k16), b, accumulate);
        }
      } else {
        const uint64_t a = WgmmaDescriptorSw128(kBM == 128 ? s_a + wg * 64 * kBK : s_a);
        const uint64_t b = WgmmaDescriptorSw128(kBM == 128 ? s_b : s_b + wg * (kBN / 2) * kBK);
        const uint64_t ak = WgmmaDescriptorAdvanceK(a, k16), bk = WgmmaDescriptorAdvanceK(b, k16);
        if constexpr (kBM == 128) {
          WgmmaM64N256K16Bf16(acc, ak, bk, accumulate);
        } else {
          WgmmaM64N128K16Bf16(acc, ak, bk, accumulate);
        }
      }
    }
    WgmmaCommit();
    // The previous tile's wgmma group is done: its stage can be refilled.
    WgmmaWait<1>();
    if (kt > 0 && signals) MbarrierArrive(&bars.empty[(kt - 1) % kStages]);
  }
  WgmmaWait<0>();
}

// One expert block's `kBM` x `kBN` tile: its slot rows, the ring's barriers, then the producer
// and the two consumers.
template <bool kFp8, bool kGateUp, int kBM, int kBN>
__device__ __forceinline__ void RunTile(const PrefillGemmParams& p, const CUtensorMap& a_map,
                                        const BlockInfo& blk, int n_tile, int* s_slot, int* s_arow,
                                        __nv_bfloat16* ring, PipelineBarriers& bars) {
  LoadBlockRows<kGateUp>(p, blk, kBM, s_slot, kFp8 ? s_arow : nullptr);  // bf16: TMA reads A
  // The tall tile's live 64-row chunks; the other tiles load all of theirs.
  const int chunks = kBN == kTallBN ? (blk.end - blk.begin + 63) / 64 : kBM / 64;
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
      if (tid % 128 == 0) {
        ProduceTilesTma<kGateUp, kBM, kBN>(p, a_map, blk, n_tile, chunks, ring, bars);
      }
    }
  } else {
    if constexpr (!kFp8) WarpgroupTakeRegisters<kConsumerRegisters>();
    Accumulators<kBM, kBN> acc;
    if constexpr (kBN == kTallBN) {
      // A tall block has 3 or 4 chunks: consumer wg multiplies chunk wg, and wg + 2 if it exists.
      if (wg + kConsumers < chunks) {
        ConsumeTiles<kFp8, kBM, kBN, 2>(p, wg, ring, bars, acc);
      } else {
        ConsumeTiles<kFp8, kBM, kBN, 1>(p, wg, ring, bars, acc);
      }
    } else {
      ConsumeTiles<kFp8, kBM, kBN>(p, wg, ring, bars, acc);
    }
    if constexpr (kBN == kTallBN) {
#pragma unroll
      for (int i = 0; i < kTallBM / 64 / kConsumers; ++i) {
        const int chunk = wg + kConsumers * i;
        if (chunk < chunks) StoreWgmmaTile<kBN, kGateUp>(p, blk, n_tile, chunk, s_slot, acc[i]);
      }
    } else if constexpr (kBM == 128) {
      StoreWgmmaTile<kBN, kGateUp>(p, blk, n_tile, wg, s_slot, acc);
    } else {
      // This consumer's 64 x 128 tile is output tile 2 n_tile + wg of 128 columns.
      StoreWgmmaTile<kBN / 2, kGateUp>(p, blk, 2 * n_tile + wg, 0, s_slot, acc);
    }
  }
}

// `a_map`: with bf16 weights, this GEMM's A [slots, K] (gate_up: x's rows in sorted order, down:
// act) in boxes of 64 rows; unused with fp8 weights (which run 128-slot tiles only). kBN = 256:
// blocks of up to 128 slots on the 128 x 256 tile (or the 64 x 256 one, p.half_tiles); kBN = 128:
// blocks of up to 256 slots, each on the tile that fits it, the grid in 128-output tiles.
template <bool kFp8, bool kGateUp, int kBN>
__global__ void __launch_bounds__(kThreads, 1)
    sm90_grouped_gemm_bf16_wgmma_ws_prefill(PrefillGemmParams p,
                                            const __grid_constant__ CUtensorMap a_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kMaxBM = kBN == kTallBN ? kTallBM : 128;
  extern __shared__ unsigned char smem_raw[];
  __shared__ int s_arow[kFp8 ? 128 : 1], s_slot[kMaxBM];
  __shared__ PipelineBarriers bars;
  auto* ring = reinterpret_cast<__nv_bfloat16*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) &
                                                ~uintptr_t{1023});

  const PrefillTile tile = PrefillTileOfThisCta(p.n_tiles, p.raster_group);
  // The block table (routing), and for down also act (gate_up), come from the kernels before.
  WaitForPredecessor();
  AllowSuccessor();
  if (tile.block >= *p.ws.num_blocks) return;
  const BlockInfo blk = p.ws.blocks[tile.block];
  const int m = blk.end - blk.begin;
  if constexpr (kBN == kTallBN) {
    // Blocks of up to 128 slots run the tiles of 256 outputs (fewer operand bytes per MMA than 64
    // or 128 rows by 128 outputs): the CTAs of even output tiles take both halves.
    if (m > 128) {
      RunTile<false, kGateUp, kTallBM, kTallBN>(p, a_map, blk, tile.n_tile, s_slot, s_arow, ring,
                                                bars);
    } else if (tile.n_tile % 2 == 0) {
      if (m <= 64) {
        RunTile<false, kGateUp, 64, 256>(p, a_map, blk, tile.n_tile / 2, s_slot, s_arow, ring,
                                         bars);
      } else {
        RunTile<false, kGateUp, 128, 256>(p, a_map, blk, tile.n_tile / 2, s_slot, s_arow, ring,
                                          bars);
      }
    }
  } else if constexpr (kFp8) {
    RunTile<true, kGateUp, 128, 256>(p, a_map, blk, tile.n_tile, s_slot, s_arow, ring, bars);
  } else if (p.half_tiles && m <= 64) {
    RunTile<false, kGateUp, 64, 256>(p, a_map, blk, tile.n_tile, s_slot, s_arow, ring, bars);
  } else {
    RunTile<false, kGateUp, 128, 256>(p, a_map, blk, tile.n_tile, s_slot, s_arow, ring, bars);
  }
#else
  // The portable PTX (compute_90) has no wgmma; WgmmaPrefillFits selects this kernel on sm_90
  // devices only, which run the sm_90a code.
  __trap();
#endif
}

template <bool kFp8, bool kGateUp, int kBN>
std::string LaunchKernel(dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p,
                         const CUtensorMap& a_map) {
  auto* kernel = sm90_grouped_gemm_bf16_wgmma_ws_prefill<kFp8, kGateUp, kBN>;
  const char* tile = kBN == kTallBN ? "256x128|128|64x256x64"
                     : p.half_tiles ? "128|64x256x64"
                                    : "128x256x64";
  const std::string name = std::string("sm90_grouped_gemm_bf16_wgmma_") + tile + "_ws_prefill<" +
                           (kGateUp ? "gate_up>" : "down>");
  // Every tile's ring is 4 stages of 48 KiB at most.
  const size_t smem_bytes = std::max(
      {Tile<kTallBM, kTallBN>::kSmemBytes, Tile<128, 256>::kSmemBytes, Tile<64, 256>::kSmemBytes});
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem_bytes)) != cudaSuccess) {
    return LaunchError((name + ": smem attribute").c_str());
  }
  return Launch(name.c_str(), kernel, grid, dim3(kThreads), smem_bytes, stream, pdl, p, a_map);
}

template <bool kFp8, int kBN>
std::string LaunchGemm(bool gate_up, dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p,
                       const CUtensorMap& a_map) {
  return gate_up ? LaunchKernel<kFp8, true, kBN>(grid, pdl, stream, p, a_map)
                 : LaunchKernel<kFp8, false, kBN>(grid, pdl, stream, p, a_map);
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
  // Blocks of 256 slots run the tall tile (bf16 weights: MoePlanOptions::prefill_block_m).
  const bool tall = plan.block_m == kTallBM;
  const int bn = tall ? kTallBN : 256;
  PrefillGemmParams p =
      MakePrefillGemmParams(gate_up, problem, plan, a, weights, ws,
                            gate_up ? problem.intermediate / (bn / 2) : problem.hidden / bn);
  const dim3 grid = PrefillGrid(plan, p.n_tiles);
  const bool pdl = plan.programmatic_launch;
  CUtensorMap a_map{};
  if (weights.format == MoeWeightFormat::kFp8Block128) {
    if (p.scales == nullptr) return "wgmma prefill grouped GEMM: fp8 weights need their scales";
    if (tall) return "wgmma prefill grouped GEMM: blocks of 256 slots need bf16 weights";
    return LaunchGemm<true, 256>(gate_up, grid, pdl, stream, p, a_map);
  }
  p.half_tiles = plan.prefill_half_tiles ? 1 : 0;
  // gate_up's boxes: 64 rows, gate and up halves (ProduceTilesTma); down's: 128 rows.
  const int box_rows = gate_up ? kPrefillBoxRows : kDownBoxRows;
  if (std::string err = WritePrefillWeightMaps(gate_up, problem, TensorMapElement::kBf16, box_rows,
                                               ws, pdl, stream, p);
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
                             problem.tokens * problem.top_k, p.K, kPrefillBoxRows);
  if (!err.empty()) return err;
  return tall ? LaunchGemm<false, kTallBN>(gate_up, grid, pdl, stream, p, a_map)
              : LaunchGemm<false, 256>(gate_up, grid, pdl, stream, p, a_map);
}

}  // namespace sy::kernels
