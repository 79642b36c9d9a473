// Tensor maps for the TMA copies of the sm_90a MoE kernels (sm90_tensor_maps.cuh).
#include <cudaTypedefs.h>

#include <mutex>
#include <string>

#include "kernels/moe/sm90_tensor_maps.cuh"

namespace sy::kernels {
namespace {

// The driver's encoder, found through the runtime so nothing links libcuda itself.
PFN_cuTensorMapEncodeTiled_v12000 TensorMapEncoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &found) == cudaSuccess &&
        found == cudaDriverEntryPointSuccess) {
      encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
    }
    cudaGetLastError();
  });
  return encode;
}

// Thread e writes map e: the template's 128 bytes, then its own address. (The portable PTX
// build, which has no tensormap.replace, is only a trap.)
__global__ void sm90_write_expert_tensor_maps(const __grid_constant__ CUtensorMap templ,
                                              const void* const* ptrs, int count,
                                              CUtensorMap* out) {
  WaitForPredecessor();
  AllowSuccessor();
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const auto* from = reinterpret_cast<const uint4*>(&templ);
  auto* to = reinterpret_cast<uint4*>(out + e);
#pragma unroll
  for (int i = 0; i < static_cast<int>(kTensorMapBytes / sizeof(uint4)); ++i) to[i] = from[i];
  asm volatile("tensormap.replace.tile.global_address.global.b1024.b64 [%0], %1;\n" ::"l"(out + e),
               "l"(ptrs[e])
               : "memory");
  asm volatile("fence.proxy.tensormap::generic.release.gpu;\n" ::: "memory");
#else
  __trap();
#endif
}

std::string Encode(CUtensorMap* map, CUtensorMapDataType type, const void* address, int64_t rows,
                   int64_t cols, int element_bytes, int box_cols, int box_rows,
                   CUtensorMapSwizzle swizzle, const char* type_name) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = TensorMapEncoder();
  if (encode == nullptr) return "cuTensorMapEncodeTiled: not offered by this driver";
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t row_stride[1] = {static_cast<cuuint64_t>(cols) * element_bytes};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(box_cols), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult err =
      encode(map, type, 2, const_cast<void*>(address), dims, row_stride, box, element_strides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (err != CUDA_SUCCESS) {
    return "cuTensorMapEncodeTiled: error " + std::to_string(static_cast<int>(err)) + " for [" +
           std::to_string(rows) + ", " + std::to_string(cols) + "] " + type_name + ", boxes of " +
           std::to_string(box_rows) + " x " + std::to_string(box_cols);
  }
  return "";
}

}  // namespace

std::string EncodeOperandTensorMap(CUtensorMap* map, const void* address, TensorMapElement element,
                                   int64_t rows, int64_t cols, int box_rows) {
  const bool bf16 = element == TensorMapElement::kBf16;
  const int element_bytes = bf16 ? 2 : 1;
  return Encode(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_UINT8,
                address, rows, cols, element_bytes, 128 / element_bytes, box_rows,
                CU_TENSOR_MAP_SWIZZLE_128B, bf16 ? "bf16" : "e4m3");
}

std::string EncodeF32RowTensorMap(CUtensorMap* map, const void* address, int64_t rows, int64_t cols,
                                  int box_cols) {
  return Encode(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, address, rows, cols, 4, box_cols, 1,
                CU_TENSOR_MAP_SWIZZLE_NONE, "f32");
}

std::string LaunchWriteExpertTensorMaps(const CUtensorMap& templ, const void* const* ptrs,
                                        int count, CUtensorMap* out, bool programmatic,
                                        void* stream) {
  constexpr int kThreads = 128;
  return Launch("sm90_write_expert_tensor_maps", sm90_write_expert_tensor_maps,
                dim3((count + kThreads - 1) / kThreads), dim3(kThreads), 0, stream, programmatic,
                templ, ptrs, count, out);
}

}  // namespace sy::kernels
