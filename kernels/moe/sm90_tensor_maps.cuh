// Hopper's tensor memory accelerator (TMA) for the sm_90a MoE kernels: tensor maps of bf16 and
// e4m3 matrices and of f32 scale rows, one map per expert written on the device, and the 2-D tile
// copies that read through them.
//
// Why maps are written on the device: a layer's experts are separate allocations named by a
// device-side pointer array (MoeWeightsView), which the host never reads. The host encodes one
// template map per matrix shape (any address), and sm90_write_expert_tensor_maps copies it once
// per expert, replacing the global address with `tensormap.replace` (as CUTLASS's grouped GEMMs
// do). The maps live in the MoE workspace; a kernel reading one fences the tensormap proxy first.
//
// The operand maps describe a row-major [rows, cols] matrix read in boxes of 128 bytes of a row
// (64 bf16 or 128 e4m3) by `box_rows` rows, written into shared memory in the 128-byte swizzle:
// the layout wgmma's descriptors (sm90_wgmma.cuh) and Swizzle128 (sm90_common.cuh) name.
#ifndef SWITCHYARD_KERNELS_MOE_SM90_TENSOR_MAPS_CUH_
#define SWITCHYARD_KERNELS_MOE_SM90_TENSOR_MAPS_CUH_

#include <cuda.h>

#include <cstdint>
#include <string>

#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {

inline constexpr size_t kTensorMapBytes = sizeof(CUtensorMap);  // 128

enum class TensorMapElement { kBf16, kE4m3 };

// Encodes into `map` the [rows, cols] matrix of `element`s at `address` (16-byte aligned; a row
// a multiple of 16 bytes), boxes of 128 bytes x `box_rows` (<= 256), 128-byte swizzle, reads out
// of bounds zero. "" or why the driver refused.
std::string EncodeOperandTensorMap(CUtensorMap* map, const void* address, TensorMapElement element,
                                   int64_t rows, int64_t cols, int box_rows);

// Encodes into `map` the f32 [rows, cols] matrix at `address` (cols % 4 == 0), boxes of
// `box_cols` (<= 256) of one row, unswizzled: a k tile's scales of consecutive slot rows.
std::string EncodeF32RowTensorMap(CUtensorMap* map, const void* address, int64_t rows, int64_t cols,
                                  int box_cols);

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

// Copies the box at (column `col`, row `row`) of `map` into `smem` (1024-byte aligned when
// swizzled, else 128); its bytes count against `bar`'s expected transaction bytes as they land.
// The box must start on 16 bytes of its row (`col` * element size % 16 == 0): a misaligned start
// is an illegal instruction, not an error the encoder reports.
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
