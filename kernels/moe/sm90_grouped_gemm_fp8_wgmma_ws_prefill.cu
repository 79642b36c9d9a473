// sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill: the grouped GEMMs of prefill for fp8
// block-128 weights as w8a8 -- e4m3 x e4m3 on the tensor cores (twice bf16's rate), the scheme
// of DeepSeek-V3's own inference, vLLM's and SGLang's block-fp8 MoE and DeepGEMM:
//   - activations are quantized per row and 128 k (sm90_quantize_fp8_rows.cu) just before each
//     GEMM and read in the blocks' sorted order: act for down as it is, x for gate_up gathered
//     after quantization (sm90_gather_sorted_rows.cu);
//   - weights keep their 128 x 128 block scales;
//   - each 128-wide k tile is one scale block on both sides, so a consumer multiplies it into a
//     partial accumulator with wgmma.m64n128k32 (4 per tile and half), waits for it, and adds
//     partial * a_scale[row] * b_scale[column block] into its f32 accumulator. Promoting every
//     128 k also bounds the error of the tensor cores' reduced-precision fp8 accumulation.
//
// One CTA computes 128 slot rows x 256 outputs of one expert block, warp-specialised like the
// bf16 kernel (sm90_grouped_gemm_bf16_wgmma_ws_prefill.cu, the same 128 x 256 tile, epilogue and
// raster): one producer thread fills a ring of 4 stages (48.5 KiB each) through TMA -- A's tile
// and its 128 row scales (W8a8Operand, whose scale layout makes them one box), B's tile through
// the expert's tensor map -- and writes the tile's two weight scales itself before it arrives on
// the stage's "full" mbarrier; two consumer warpgroups (64 rows each) run the wgmma and free
// stages on "empty" mbarriers. A consumer holds its 128 accumulators and one 64-register
// partial, so it multiplies the 256 outputs as two halves of 128 (each one weight scale block) in
// turn. Why 256 wide and not 128 (which needs no halves): each k tile's round of waits (full
// barrier, wgmma, promotion) then covers twice the MACs; it took Mixtral's 4096-token layer from
// 5,039 to 3,998 µs (docs/cuda-kernels.md). Why TMA: as for bf16, 128 producer threads' cp.async
// set the pace rather than the MMA (docs/cuda-kernels.md, "Measured gaps").
//
// gate_up: the 256 outputs are 128 gate rows and their 128 up rows (StoreWgmmaTile pairs columns
// j and j + 128), each half a weight scale block. down: 256 rows, two scale blocks.
#include <cuda_bf16.h>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_prefill_tile.cuh"
#include "kernels/moe/sm90_tensor_maps.cuh"
#include "kernels/moe/sm90_wgmma.cuh"

namespace sy::kernels {
namespace {

constexpr int kBM = 128, kBN = 256, kBK = 128, kStages = 4;
constexpr int kConsumers = 2, kThreads = 128 * (1 + kConsumers);
// (maybe_unused: the portable PTX build of the kernel below is only a trap.)
[[maybe_unused]] constexpr int kProducerRegisters = 40, kConsumerRegisters = 232;
constexpr int kATileBytes = kBM * kBK, kBTileBytes = kBN * kBK;  // rows of 128 e4m3
constexpr size_t kStageBytes = kATileBytes + kBTileBytes;
// A's row scales come from the 16-byte-aligned position at or before the block's first, which
// TMA needs of a box's start: kBM + 4 of them, the block's first at index begin % 4.
constexpr int kScaleBox = kBM + 4;
// What TMA lands in a stage: A, B and A's row scales.
[[maybe_unused]] constexpr uint32_t kStageTxBytes = kStageBytes + sizeof(float) * kScaleBox;
// The ring, plus slack to align it to the 1024 bytes the swizzle pattern repeats over.
constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;
static_assert(kBK == kMoeFp8Block, "a k tile is one scale block");

struct Pipeline {
  alignas(128) float a_scale[kStages][kBM + 32];  // TMA's destination (kScaleBox, 128-aligned)
  float b_scale[kStages][2];                      // output columns [0, 128) and [128, 256)
  uint64_t full[kStages];                         // the producer's copies of a stage landed
  uint64_t empty[kStages];                        // every consumer warp is done with a stage
};

// The producer, one thread: for every k tile, A's tile and its row scales (from the block's first
// sorted position) and B's tile (gate_up: the tile's 128 gate rows and 128 up rows; down: 256
// rows) through TMA, and the two weight scales of the tile's column blocks, read one tile ahead.
template <bool kGateUp>
[[maybe_unused]] __device__ void ProduceTiles(const PrefillGemmParams& p, const CUtensorMap& a_map,
                                              const CUtensorMap& a_scale_map, const BlockInfo& blk,
                                              int n_tile, uint8_t* ring, Pipeline& pipe) {
  const auto* w_map = static_cast<const CUtensorMap*>(p.weight_maps) + blk.expert;
  AcquireTensorMap(w_map);
  const int k_tiles = p.K / kBK;
  const float* b_scales[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int w_row = WgmmaTileWeightRow<kBN, kGateUp>(p, n_tile, half * kBN / 2);
    b_scales[half] = p.scales[blk.expert] + static_cast<int64_t>(w_row / kMoeFp8Block) * k_tiles;
  }
  float next[2] = {b_scales[0][0], b_scales[1][0]};
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    if (kt >= kStages) MbarrierWait(&pipe.empty[stage], (kt / kStages - 1) & 1);
    uint8_t* s_a = ring + stage * kStageBytes;
    uint8_t* s_b = s_a + kATileBytes;
    uint64_t* full = &pipe.full[stage];
    // Plain stores, released to the consumers by the arrival below.
    pipe.b_scale[stage][0] = next[0];
    pipe.b_scale[stage][1] = next[1];
    MbarrierArriveExpectTx(full, kStageTxBytes);
    TmaLoadTile(s_a, &a_map, kt * kBK, blk.begin, full);
    TmaLoadTile(pipe.a_scale[stage], &a_scale_map, blk.begin & ~3, kt, full);
    if constexpr (kGateUp) {
      TmaLoadTile(s_b, w_map, kt * kBK, kBN / 2 * n_tile, full);
      TmaLoadTile(s_b + kBN / 2 * kBK, w_map, kt * kBK, p.inter + kBN / 2 * n_tile, full);
    } else {
      TmaLoadTile(s_b, w_map, kt * kBK, kBN * n_tile, full);
    }
    if (kt + 1 < k_tiles) {
      next[0] = b_scales[0][kt + 1];
      next[1] = b_scales[1][kt + 1];
    }
  }
}

// A consumer whose 64 rows hold no slot of the block (a leftover block of at most 64 slots):
// it only frees each stage, and the other consumer has the tensor cores to itself. (Its own
// function: a wgmma behind a runtime branch makes ptxas serialise every wgmma of the kernel.)
[[maybe_unused]] __device__ __forceinline__ void FreeStages(const PrefillGemmParams& p,
                                                            Pipeline& pipe) {
  const int k_tiles = p.K / kBK;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    MbarrierWait(&pipe.full[stage], (kt / kStages) & 1);
    __syncwarp();
    if (threadIdx.x % 32 == 0) MbarrierArrive(&pipe.empty[stage]);
  }
}

// Consumer warpgroup `wg` (0 or 1): slot rows 64 wg .. 64 wg + 63 of the tile, all 256 outputs,
// as two halves of 128 (one weight scale block each) through one 64-register partial: acc
// columns 128 half + c are the m64n256 fragment's (StoreWgmmaTile), a half's partial its
// registers 64 half .. 64 half + 63.
[[maybe_unused]] __device__ __forceinline__ void ConsumeTiles(const PrefillGemmParams& p,
                                                              const BlockInfo& blk, int wg,
                                                              const uint8_t* ring, Pipeline& pipe,
                                                              float (&acc)[128]) {
  const int k_tiles = p.K / kBK;
  const int lane = threadIdx.x % 32;
  const int row = 64 * wg + 16 * ((threadIdx.x / 32) % 4) + lane / 4;  // and row + 8
  const int scale_row = row + blk.begin % 4;                           // in pipe.a_scale
  float part[64];
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    MbarrierWait(&pipe.full[stage], (kt / kStages) & 1);
    const uint8_t* s_a = ring + stage * kStageBytes;
    const uint64_t a = WgmmaDescriptorSw128(s_a + wg * 64 * kBK);
    const float row_scale[2] = {pipe.a_scale[stage][scale_row], pipe.a_scale[stage][scale_row + 8]};
    const float col_scale[2] = {pipe.b_scale[stage][0], pipe.b_scale[stage][1]};
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const uint64_t b = WgmmaDescriptorSw128(s_a + kATileBytes + half * (kBN / 2) * kBK);
      WgmmaFence();
#pragma unroll
      for (int step = 0; step < kBK / 32; ++step) {
        WgmmaM64N128K32E4m3(part, WgmmaDescriptorAdvanceK(a, step),
                            WgmmaDescriptorAdvanceK(b, step), step > 0);
      }
      WgmmaCommit();
      WgmmaWait<0>();
      if (half == 1) {
        // Every lane of the warp is past its reads of the stage before one releases it.
        __syncwarp();
        if (lane == 0) MbarrierArrive(&pipe.empty[stage]);
      }
#pragma unroll
      for (int i = 0; i < 64; ++i) {
        const float scale = row_scale[(i / 2) % 2] * col_scale[half];
        acc[64 * half + i] = fmaf(part[i], scale, acc[64 * half + i]);
      }
    }
  }
}

// `a_map`: A's rows (W8a8Operand, e4m3 [T * k, K]); `a_scale_map`: their scales.
template <bool kGateUp>
__global__ void __launch_bounds__(kThreads, 1) sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill(
    PrefillGemmParams p, const __grid_constant__ CUtensorMap a_map,
    const __grid_constant__ CUtensorMap a_scale_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  __shared__ int s_slot[kBM];
  __shared__ Pipeline pipe;
  auto* ring =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t{1023});

  const PrefillTile tile = PrefillTileOfThisCta(p.n_tiles, p.raster_group);
  const int n_tile = tile.n_tile;
  // The block table (routing), the weight maps and the quantized activations come from the
  // kernels before.
  WaitForPredecessor();
  AllowSuccessor();
  if (tile.block >= *p.ws.num_blocks) return;
  const BlockInfo blk = p.ws.blocks[tile.block];
  LoadBlockRows<kGateUp>(p, blk, kBM, s_slot, nullptr);  // TMA reads A in sorted order
  const int tid = threadIdx.x;
  if (tid < kStages) {
    MbarrierInit(&pipe.full[tid], 1);                // the TMA issuer
    MbarrierInit(&pipe.empty[tid], 4 * kConsumers);  // one arrival per consumer warp
  }
  __syncthreads();

  const int wg = tid / 128;
  if (wg == kConsumers) {
    WarpgroupReleaseRegisters<kProducerRegisters>();
    if (tid % 128 == 0) ProduceTiles<kGateUp>(p, a_map, a_scale_map, blk, n_tile, ring, pipe);
  } else {
    WarpgroupTakeRegisters<kConsumerRegisters>();
    if (64 * wg < blk.end - blk.begin) {
      float acc[128];
      ConsumeTiles(p, blk, wg, ring, pipe, acc);
      StoreWgmmaTile<kBN, kGateUp>(p, blk, n_tile, wg, s_slot, acc);
    } else {
      FreeStages(p, pipe);
    }
  }
#else
  // The portable PTX (compute_90) has no wgmma; WgmmaPrefillFits selects this kernel on sm_90
  // devices only, which run the sm_90a code.
  __trap();
#endif
}

template <bool kGateUp>
std::string LaunchKernel(dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p,
                         const CUtensorMap& a_map, const CUtensorMap& a_scale_map) {
  auto* kernel = sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<kGateUp>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSmemBytes)) != cudaSuccess) {
    return LaunchError("sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill: smem attribute");
  }
  return Launch(kGateUp ? "sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<gate_up>"
                        : "sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<down>",
                kernel, grid, dim3(kThreads), kSmemBytes, stream, pdl, p, a_map, a_scale_map);
}

}  // namespace

std::string LaunchFp8WgmmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                      const void* a, const MoeWeightsView& weights,
                                      const MoeWorkspaceView& ws, void* stream) {
  if (weights.format != MoeWeightFormat::kFp8Block128 || !WgmmaPrefillFits(problem, weights))
    return "fp8 wgmma prefill grouped GEMM: needs fp8 block-128 weights, intermediate % 128 == 0 "
           "and hidden % 256 == 0";
  if (weights.gate_up_scales == nullptr || weights.down_scales == nullptr)
    return "fp8 wgmma prefill grouped GEMM: fp8 weights need their scales";
  if (ws.a_fp8 == nullptr)
    return "fp8 wgmma prefill grouped GEMM: the workspace has no fp8 activations; plan with "
           "MoePlanOptions::format = kFp8Block128";
  if (plan.max_blocks == 0) return "";
  const bool pdl = plan.programmatic_launch;
  // A: gate_up's x quantized once per token, then gathered into sorted order; down's act (in
  // sorted order already) quantized in place.
  const W8a8Operand a_q = W8a8OperandOf(gate_up, problem, ws);
  const W8a8Operand quantized = gate_up ? W8a8TokenRowsOf(problem, ws) : a_q;
  const int64_t rows = gate_up ? problem.tokens : problem.tokens * problem.top_k;
  const int64_t k = gate_up ? problem.hidden : problem.intermediate;
  if (std::string err = LaunchQuantizeFp8Rows(a, rows, k, quantized, pdl, stream); !err.empty())
    return err;
  if (gate_up) {
    if (std::string err = LaunchGatherSortedFp8Rows(problem, plan, quantized, ws, a_q, stream);
        !err.empty()) {
      return err;
    }
  }
  PrefillGemmParams p =
      MakePrefillGemmParams(gate_up, problem, plan, a, weights, ws,
                            gate_up ? problem.intermediate / (kBN / 2) : problem.hidden / kBN);
  if (std::string err = WritePrefillWeightMaps(gate_up, problem, TensorMapElement::kE4m3,
                                               gate_up ? kBN / 2 : kBN, ws, pdl, stream, p);
      !err.empty()) {
    return err;
  }
  const int64_t slots = problem.tokens * problem.top_k;
  CUtensorMap a_map{}, a_scale_map{};
  if (std::string err =
          EncodeOperandTensorMap(&a_map, a_q.rows, TensorMapElement::kE4m3, slots, p.K, kBM);
      !err.empty()) {
    return err;
  }
  if (std::string err =
          EncodeF32RowTensorMap(&a_scale_map, a_q.scales, p.K / kBK, a_q.scales_ld, kScaleBox);
      !err.empty()) {
    return err;
  }
  const dim3 grid = PrefillGrid(plan, p.n_tiles);
  return gate_up ? LaunchKernel<true>(grid, pdl, stream, p, a_map, a_scale_map)
                 : LaunchKernel<false>(grid, pdl, stream, p, a_map, a_scale_map);
}

}  // namespace sy::kernels
