// Hopper's tensor memory accelerator (TMA) for the sm_90a MoE kernels: tensor maps of bf16
// matrices, one per expert written on the device, and the 2-D tile copies that read through them.
//
// Why maps are written on the device: a layer's experts are separate allocations named by a
// device-side pointer array (MoeWeightsView), which the host never reads. The host encodes one
// template map per matrix shape (any address), and sm90_write_expert_tensor_maps copies it once
// per expert, replacing the global address with `tensormap.replace` (as CUTLASS's grouped GEMMs
// do). The maps live in the MoE workspace; a kernel reading one fences the tensormap proxy first.
//
// Every map here describes a row-major bf16 [rows, cols] matrix read in boxes of 64 columns
// (128 bytes) by `box_rows` rows, written into shared memory in the 128-byte swizzle: the layout
// wgmma's descriptors (sm90_wgmma.cuh) and Swizzle128 (sm90_common.cuh) name.
#ifndef SWITCHYARD_KERNELS_MOE_SM90_TENSOR_MAPS_CUH_
#define SWITCHYARD_KERNELS_MOE_SM90_TENSOR_MAPS_CUH_

#include <cuda.h>

#include <cstdint>
#include <string>

#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {

inline constexpr int kTensorMapBoxCols = 64;
inline constexpr size_t kTensorMapBytes = sizeof(CUtensorMap);  // 128

// Encodes into `map` the bf16 [rows, cols] matrix at `address` (16-byte aligned; cols % 8 == 0),
// boxes of kTensorMapBoxCols x `box_rows` (<= 256), 128-byte swizzle, out-of-bounds reads zero.
// "" or why the driver refused.
std::string EncodeBf16TensorMap(CUtensorMap* map, const void* address, int64_t rows, int64_t cols,
                                int box_rows);

// Writes `count` maps into `out` (device memory, 128-byte aligned): map e is `templ` with the
// address ptrs[e] (a device-side array). Waits for its predecessor (PDL) before writing, so a
// kernel still reading the previous maps has finished.
std::string LaunchWriteExpertTensorMaps(const CUtensorMap& templ, const void* const* ptrs,
                                        int count, CUtensorMap* out, bool programmatic,
                                        void* stream);

// Makes a map written by sm90_write_expert_tensor_maps (generic proxy) visible to the TMA unit
// (tensormap proxy); once per map and thread before its first copy.
__device__ __forceinline__ void AcquireTensorMap(const CUtensorMap* map) {
  asm volatile("fence.proxy.tensormap::generic.acquire.gpu [%0], 128;\n" ::"l"(map) : "memory");
}

// Tells `bar` that `bytes` more will land through TMA this phase, and arrives once.
__device__ __forceinline__ void MbarrierArriveExpectTx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(SmemAddress(bar)),
               "r"(bytes)
               : "memory");
}

// Copies the box at (column `col`, row `row`) of `map` into `smem` (1024-byte aligned); its bytes
// count against `bar`'s expected transaction bytes as they land.
__device__ __forceinline__ void TmaLoadTile(void* smem, const CUtensorMap* map, int col, int row,
                                            uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(SmemAddress(smem)),
      "l"(map), "r"(col), "r"(row), "r"(SmemAddress(bar))
      : "memory");
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_SM90_TENSOR_MAPS_CUH_
