// What the prefill grouped-GEMM kernels (wgmma bf16 and fp8, mma.sync) share: their parameters,
// the raster that maps a CTA to (expert block, output tile), the slot rows a block reads, the
// gate_up epilogue's activation of a pair of columns, and the wgmma kernels' weight tensor maps
// and tile epilogue.
#ifndef SWITCHYARD_KERNELS_MOE_SM90_PREFILL_TILE_CUH_
#define SWITCHYARD_KERNELS_MOE_SM90_PREFILL_TILE_CUH_

#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/moe/sm90_tensor_maps.cuh"

namespace sy::kernels {

struct PrefillGemmParams {
  const __nv_bfloat16* a;      // gate_up: x [T, H]; down: act [slots, I]
  const void* const* weights;  // per expert [rows, K], bf16 or fp8
  const float* const* scales;  // fp8: per expert [ceil(rows / 128), ceil(K / 128)]
  MoeWeightsView view;         // the biases and the activation
  int K;
  int inter, hidden, top_k;
  int n_tiles;       // output tiles per expert block
  int raster_group;  // MoePlan::prefill_raster_group
  // The bf16 wgmma kernel with blocks of 128: blocks of at most 64 slots run the 64 x 256 tile
  // (MoePlan::prefill_half_tiles), the rest the 128 x 256 one.
  int half_tiles;
  // The mma.sync kernel: CTAs per block, each taking 128 of its slots (2 for blocks of 256).
  int block_slices;
  // The bf16 wgmma kernel: this GEMM's per-expert weight tensor maps (CUtensorMap [E], in ws).
  const void* weight_maps;
  MoeWorkspaceView ws;
};

inline PrefillGemmParams MakePrefillGemmParams(bool gate_up, const MoeProblem& problem,
                                               const MoePlan& plan, const void* a,
                                               const MoeWeightsView& weights,
                                               const MoeWorkspaceView& ws, int64_t n_tiles) {
  PrefillGemmParams p{};
  p.raster_group = plan.prefill_raster_group;
  p.a = static_cast<const __nv_bfloat16*>(a);
  p.weights = gate_up ? weights.gate_up : weights.down;
  p.scales = gate_up ? weights.gate_up_scales : weights.down_scales;
  p.view = weights;
  p.K = static_cast<int>(gate_up ? problem.hidden : problem.intermediate);
  p.inter = static_cast<int>(problem.intermediate);
  p.hidden = static_cast<int>(problem.hidden);
  p.top_k = problem.top_k;
  p.n_tiles = static_cast<int>(n_tiles);
  p.ws = ws;
  return p;
}

// The wgmma kernels' per-expert weight tensor maps for this GEMM ([rows, K]: gate_up's 2I rows,
// down's H rows, read `box_rows` at a time), written into the workspace, and p.weight_maps
// pointed at them.
inline std::string WritePrefillWeightMaps(bool gate_up, const MoeProblem& problem,
                                          TensorMapElement element, int box_rows,
                                          const MoeWorkspaceView& ws, bool pdl, void* stream,
                                          PrefillGemmParams& p) {
  CUtensorMap templ{};
  const int64_t rows = gate_up ? 2 * problem.intermediate : problem.hidden;
  // The template's address is never read: each expert's map gets its own.
  if (std::string err = EncodeOperandTensorMap(&templ, ws.act, element, rows, p.K, box_rows);
      !err.empty()) {
    return err;
  }
  auto* maps = static_cast<CUtensorMap*>(ws.weight_maps) + (gate_up ? 0 : problem.experts);
  p.weight_maps = maps;
  return LaunchWriteExpertTensorMaps(templ, p.weights, problem.experts, maps, pdl, stream);
}

// Raster: groups of MoePlan::prefill_raster_group expert blocks sweep every output tile
// together, so a group's A rows stay in L2 while each weight tile streams once per group.
// `block_slices`: CTAs per block along the raster (PrefillGemmParams::block_slices).
inline dim3 PrefillGrid(const MoePlan& plan, int n_tiles, int block_slices = 1) {
  const int64_t group = plan.prefill_raster_group;
  const int64_t groups = (plan.max_blocks * block_slices + group - 1) / group;
  return dim3(static_cast<unsigned>(groups * group * n_tiles));
}

struct PrefillTile {
  int block, n_tile;
};
__device__ __forceinline__ PrefillTile PrefillTileOfThisCta(int n_tiles, int group) {
  const int in_group = blockIdx.x % (group * n_tiles);
  return {static_cast<int>(blockIdx.x / (group * n_tiles)) * group + in_group % group,
          in_group / group};
}

// The `rows` slot rows of expert block `blk`: its slots, and the rows of A they read (gate_up:
// token rows of x; down: rows of act in sorted order) for kernels that gather A themselves
// (`s_arow`; nullptr where TMA reads A in sorted order). Rows past the block repeat a real one.
template <bool kGateUp>
__device__ __forceinline__ void LoadBlockRows(const PrefillGemmParams& p, const BlockInfo& blk,
                                              int rows, int* s_slot, int* s_arow) {
  const int m = blk.end - blk.begin;
  for (int i = threadIdx.x; i < rows; i += blockDim.x) {
    const int pos = blk.begin + min(i, m - 1);
    const int slot = p.ws.sorted_slots[pos];
    s_slot[i] = slot;
    if (s_arow != nullptr) s_arow[i] = kGateUp ? slot / p.top_k : pos;
  }
}

// act columns i and i + 1 as packed bf16: the experts' activation of (gate, up) after their
// biases (gpt-oss; `bias` is the expert's [2I] gate_up biases, or nullptr).
__device__ __forceinline__ uint32_t ActivatePair(const PrefillGemmParams& p, const float* bias,
                                                 int i, float gate0, float gate1, float up0,
                                                 float up1) {
  if (bias != nullptr) {
    gate0 += bias[i];
    gate1 += bias[i + 1];
    up0 += bias[p.inter + i];
    up1 += bias[p.inter + i + 1];
  }
  return PackBf16(ExpertActivation(p.view, gate0, up0), ExpertActivation(p.view, gate1, up1));
}

__device__ __forceinline__ const float* GateUpBias(const PrefillGemmParams& p, int expert) {
  return p.view.gate_up_bias == nullptr
             ? nullptr
             : p.view.gate_up_bias + static_cast<int64_t>(expert) * 2 * p.inter;
}

// ---- The wgmma kernels' tiles: 64-row chunks of slots x kBN outputs -------------------------

// Weight row of output `row` of tile `n_tile`. gate_up pairs kBN / 2 gate rows with the kBN / 2
// up rows of the same activations, so SwiGLU is computed in the epilogue.
template <int kBN, bool kGateUp>
__device__ __forceinline__ int WgmmaTileWeightRow(const PrefillGemmParams& p, int n_tile, int row) {
  if constexpr (kGateUp) {
    return row < kBN / 2 ? kBN / 2 * n_tile + row : p.inter + kBN / 2 * n_tile + row - kBN / 2;
  } else {
    return kBN * n_tile + row;
  }
}

// The epilogue of the tile's 64-row chunk `chunk` (slot rows 64 chunk .. 64 chunk + 63: in a
// 128-row tile, consumer warpgroup `chunk`'s) from its wgmma fragment (sm90_wgmma.cuh): gate_up
// writes act (columns j and j + kBN / 2 of a thread are one SwiGLU pair); down writes router
// weight * y in bf16 per slot into rows_out.
template <int kBN, bool kGateUp>
__device__ __forceinline__ void StoreWgmmaTile(const PrefillGemmParams& p, const BlockInfo& blk,
                                               int n_tile, int chunk, const int* s_slot,
                                               const float (&acc)[kBN / 2]) {
  const int lane = threadIdx.x % 32, warp_in_wg = (threadIdx.x / 32) % 4;
  const int m = blk.end - blk.begin;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = 64 * chunk + 16 * warp_in_wg + lane / 4 + 8 * half;
    if (row >= m) continue;
    if constexpr (kGateUp) {
      auto* act = reinterpret_cast<uint32_t*>(p.ws.act);
      const float* bias = GateUpBias(p, blk.expert);
#pragma unroll
      for (int j = 0; j < kBN / 16; ++j) {
        const int i = kBN / 2 * n_tile + 8 * j + 2 * (lane % 4);
        const float* gate = &acc[4 * j + 2 * half];
        const float* up = &acc[4 * (j + kBN / 16) + 2 * half];
        act[(static_cast<int64_t>(blk.begin + row) * p.inter + i) / 2] =
            ActivatePair(p, bias, i, gate[0], gate[1], up[0], up[1]);
      }
    } else {
      auto* rows_out = reinterpret_cast<uint32_t*>(p.ws.rows_out);
      const int slot = s_slot[row];
      const float weight = p.ws.topk_weights[slot];
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j) {
        const int h = kBN * n_tile + 8 * j + 2 * (lane % 4);
        rows_out[(static_cast<int64_t>(slot) * p.hidden + h) / 2] =
            PackBf16(weight * acc[4 * j + 2 * half], weight * acc[4 * j + 2 * half + 1]);
      }
    }
  }
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_SM90_PREFILL_TILE_CUH_
