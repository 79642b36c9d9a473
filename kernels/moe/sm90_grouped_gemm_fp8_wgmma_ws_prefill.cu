// sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill: the grouped GEMMs of prefill for fp8
// block-128 weights as w8a8 -- e4m3 x e4m3 on the tensor cores (twice bf16's rate), the scheme
// of DeepSeek-V3's own inference, vLLM's and SGLang's block-fp8 MoE and DeepGEMM:
//   - activations are quantized per row and 128 k (sm90_quantize_fp8_rows.cu) just before each
//     GEMM: x for gate_up, act for down;
//   - weights keep their 128 x 128 block scales;
//   - each 128-wide k tile is one scale block on both sides, so a consumer multiplies it into a
//     partial accumulator with wgmma.m64n128k32 (4 per tile and half), waits for it, and adds
//     partial * a_scale[row] * b_scale[column block] into its f32 accumulator. Promoting every
//     128 k also bounds the error of the tensor cores' reduced-precision fp8 accumulation.
//
// One CTA computes 128 slot rows x 256 outputs of one expert block, warp-specialised like the
// bf16 kernel (sm90_grouped_gemm_bf16_wgmma_ws_prefill.cu, the same 128 x 256 tile and
// epilogue): a producer warpgroup copies A, B and the k tile's scales with cp.async into a ring
// of 4 stages (48 KiB each) and signals "full" mbarriers; two consumer warpgroups (64 rows each)
// run the wgmma and free stages on "empty" mbarriers. A consumer holds its 128 accumulators and
// one 64-register partial, so it multiplies the 256 outputs as two halves of 128 (each one weight
// scale block) in turn. Why 256 wide and not 128 (which needs no halves): each k tile's
// round of waits (full barrier, wgmma, promotion) then covers twice the MACs; it took Mixtral's
// 4096-token layer from 5,039 to 3,998 µs (docs/cuda-kernels.md).
//
// gate_up: the 256 outputs are 128 gate rows and their 128 up rows (StoreWgmmaTile pairs columns
// j and j + 128), each half a weight scale block. down: 256 rows, two scale blocks.
#include <cuda_bf16.h>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_prefill_tile.cuh"
#include "kernels/moe/sm90_wgmma.cuh"

namespace sy::kernels {
namespace {

constexpr int kBM = 128, kBN = 256, kBK = 128, kStages = 4;
constexpr int kConsumers = 2, kThreads = 128 * (1 + kConsumers);
// (maybe_unused: the portable PTX build of the kernel below is only a trap.)
[[maybe_unused]] constexpr int kProducerRegisters = 80, kConsumerRegisters = 208;
constexpr int kATileBytes = kBM * kBK, kBTileBytes = kBN * kBK;  // rows of 128 e4m3
constexpr size_t kStageBytes = kATileBytes + kBTileBytes;
// The ring, plus slack to align it to the 1024 bytes the swizzle pattern repeats over.
constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;
static_assert(kBK == kMoeFp8Block, "a k tile is one scale block");

struct Pipeline {
  uint64_t full[kStages];   // the producer's copies of a stage landed
  uint64_t empty[kStages];  // every consumer warp is done with a stage
  float a_scale[kStages][kBM];
  float b_scale[kStages][2];  // output columns [0, 128) and [128, 256)
};

// The producer warpgroup: thread `pt` copies 16-byte chunk pt % 8 of A rows and B rows
// pt / 8 + 16 i, A row pt's scale and (pt < 2) the scale of B's column block pt, for every k
// tile, into the ring.
template <bool kGateUp>
[[maybe_unused]] __device__ void ProduceTiles(const PrefillGemmParams& p, int expert, int n_tile,
                                              const int* s_arow, uint8_t* ring, Pipeline& pipe,
                                              int pt) {
  const int chunk = pt % 8, row0 = pt / 8;
  const int k_tiles = p.K / kBK;
  const auto* w = static_cast<const uint8_t*>(p.weights[expert]);
  const float* a_scales = p.a_scales + static_cast<int64_t>(s_arow[pt]) * k_tiles;
  const float* b_scales =
      p.scales[expert] +
      static_cast<int64_t>(WgmmaTileWeightRow<kBN, kGateUp>(p, n_tile, (pt % 2) * kBN / 2) /
                           kMoeFp8Block) *
          k_tiles;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    if (kt >= kStages) MbarrierWait(&pipe.empty[stage], (kt / kStages - 1) & 1);
    uint8_t* s_a = ring + stage * kStageBytes;
    uint8_t* s_b = s_a + kATileBytes;
    const int k = kt * kBK + chunk * 16;
#pragma unroll
    for (int i = 0; i < kBM / 16; ++i) {
      const int row = row0 + 16 * i;
      CpAsync16(s_a + Swizzle128Bytes(row, chunk),
                p.a_fp8 + static_cast<int64_t>(s_arow[row]) * p.K + k);
    }
#pragma unroll
    for (int i = 0; i < kBN / 16; ++i) {
      const int row = row0 + 16 * i;
      CpAsync16(
          s_b + Swizzle128Bytes(row, chunk),
          w + static_cast<int64_t>(WgmmaTileWeightRow<kBN, kGateUp>(p, n_tile, row)) * p.K + k);
    }
    CpAsync4(&pipe.a_scale[stage][pt], a_scales + kt);
    if (pt < 2) CpAsync4(&pipe.b_scale[stage][pt], b_scales + kt);
    CpAsyncArriveOnMbarrier(&pipe.full[stage]);
  }
  // A thread's copies must land before it exits.
  CpAsyncWait<0>();
}

// Consumer warpgroup `wg` (0 or 1): slot rows 64 wg .. 64 wg + 63 of the tile, all 256 outputs,
// as two halves of 128 (one weight scale block each) through one 64-register partial: acc
// columns 128 half + c are the m64n256 fragment's (StoreWgmmaTile), a half's partial its
// registers 64 half .. 64 half + 63.
[[maybe_unused]] __device__ __forceinline__ void ConsumeTiles(const PrefillGemmParams& p, int wg,
                                                              const uint8_t* ring, Pipeline& pipe,
                                                              float (&acc)[128]) {
  const int k_tiles = p.K / kBK;
  const int lane = threadIdx.x % 32;
  const int row = 64 * wg + 16 * ((threadIdx.x / 32) % 4) + lane / 4;  // and row + 8
  float part[64];
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % kStages;
    MbarrierWait(&pipe.full[stage], (kt / kStages) & 1);
    // The copies were made through the generic proxy; wgmma reads through the async one.
    FenceProxyAsyncShared();
    const uint8_t* s_a = ring + stage * kStageBytes;
    const uint64_t a = WgmmaDescriptorSw128(s_a + wg * 64 * kBK);
    const float row_scale[2] = {pipe.a_scale[stage][row], pipe.a_scale[stage][row + 8]};
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

template <bool kGateUp>
__global__ void __launch_bounds__(kThreads, 1)
    sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill(PrefillGemmParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  __shared__ int s_arow[kBM], s_slot[kBM];
  __shared__ Pipeline pipe;
  auto* ring =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t{1023});

  const PrefillTile tile = PrefillTileOfThisCta(p.n_tiles);
  const int n_tile = tile.n_tile;
  // The block table (routing) and the quantized activations come from the kernels before.
  WaitForPredecessor();
  AllowSuccessor();
  if (tile.block >= *p.ws.num_blocks) return;
  const BlockInfo blk = p.ws.blocks[tile.block];
  LoadBlockRows<kGateUp>(p, blk, kBM, s_slot, s_arow);
  const int tid = threadIdx.x;
  if (tid < kStages) {
    MbarrierInit(&pipe.full[tid], 128);              // every producer thread's copies
    MbarrierInit(&pipe.empty[tid], 4 * kConsumers);  // one arrival per consumer warp
  }
  __syncthreads();

  const int wg = tid / 128;
  if (wg == kConsumers) {
    WarpgroupReleaseRegisters<kProducerRegisters>();
    ProduceTiles<kGateUp>(p, blk.expert, n_tile, s_arow, ring, pipe, tid % 128);
  } else {
    WarpgroupTakeRegisters<kConsumerRegisters>();
    float acc[128];
    ConsumeTiles(p, wg, ring, pipe, acc);
    StoreWgmmaTile<kBN, kGateUp>(p, blk, n_tile, wg, s_slot, acc);
  }
#else
  // The portable PTX (compute_90) has no wgmma; WgmmaPrefillFits selects this kernel on sm_90
  // devices only, which run the sm_90a code.
  __trap();
#endif
}

template <bool kGateUp>
std::string LaunchKernel(dim3 grid, bool pdl, void* stream, const PrefillGemmParams& p) {
  auto* kernel = sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<kGateUp>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSmemBytes)) != cudaSuccess) {
    return LaunchError("sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill: smem attribute");
  }
  return Launch(kGateUp ? "sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<gate_up>"
                        : "sm90_grouped_gemm_fp8_wgmma_128x256x128_ws_prefill<down>",
                kernel, grid, dim3(kThreads), kSmemBytes, stream, pdl, p);
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
  const int64_t rows = gate_up ? problem.tokens : problem.tokens * problem.top_k;
  const int64_t k = gate_up ? problem.hidden : problem.intermediate;
  const bool pdl = plan.programmatic_launch;
  std::string err = LaunchQuantizeFp8Rows(a, rows, k, ws.a_fp8, ws.a_scales, pdl, stream);
  if (!err.empty()) return err;
  const PrefillGemmParams p =
      MakePrefillGemmParams(gate_up, problem, a, weights, ws,
                            gate_up ? problem.intermediate / (kBN / 2) : problem.hidden / kBN);
  const dim3 grid = PrefillGrid(plan, p.n_tiles);
  return gate_up ? LaunchKernel<true>(grid, pdl, stream, p)
                 : LaunchKernel<false>(grid, pdl, stream, p);
}

}  // namespace sy::kernels
