// sm90_quantize_fp8_rows_1x128: the activations of a w8a8 GEMM, quantized on the fly the way
// DeepSeek-V3's inference and vLLM's block-fp8 path do: per row and 128 columns,
// scale = amax / 448 (1 where that is 0), value = e4m3(x / scale), rounded to nearest even
// and saturated. One warp per group, four columns a lane; every step mirrors
// reference::QuantizeFp8Rows128 (IEEE division included), so the bytes match it exactly.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kGroup = 128, kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    sm90_quantize_fp8_rows_1x128(const __nv_bfloat16* in, int64_t rows, int cols, uint8_t* out,
                                 float* scales) {
  // The rows come from the kernel before (the gate_up GEMM's act), and the GEMM after must see
  // that kernel's predecessors finished too.
  WaitForPredecessor();
  AllowSuccessor();
  const int groups = cols / kGroup, lane = threadIdx.x % 32;
  const int64_t group = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / 32;
  if (group >= rows * groups) return;
  const int64_t at = group / groups * cols + group % groups * kGroup + 4 * lane;
  const uint2 bits = *reinterpret_cast<const uint2*>(in + at);
  const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits.x));
  const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits.y));
  float amax = fmaxf(fmaxf(fabsf(lo.x), fabsf(lo.y)), fmaxf(fabsf(hi.x), fabsf(hi.y)));
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  const float ratio = __fdiv_rn(amax, 448.0f);
  const float scale = ratio > 0.0f ? ratio : 1.0f;
  const auto q = [scale](float2 v) {
    return static_cast<uint32_t>(__nv_cvt_float2_to_fp8x2(
        make_float2(__fdiv_rn(v.x, scale), __fdiv_rn(v.y, scale)), __NV_SATFINITE, __NV_E4M3));
  };
  *reinterpret_cast<uint32_t*>(out + at) = q(lo) | q(hi) << 16;
  if (lane == 0) scales[group] = scale;
}

}  // namespace

std::string LaunchQuantizeFp8Rows(const void* in, int64_t rows, int64_t cols, uint8_t* out,
                                  float* scales, bool programmatic, void* stream) {
  if (cols % kGroup != 0) return "fp8 activation quantization: cols must be a multiple of 128";
  if (rows == 0) return "";
  const int64_t warps = rows * (cols / kGroup);
  const dim3 grid(static_cast<unsigned>((warps * 32 + kThreads - 1) / kThreads));
  return Launch("sm90_quantize_fp8_rows_1x128", sm90_quantize_fp8_rows_1x128, grid, dim3(kThreads),
                0, stream, programmatic, static_cast<const __nv_bfloat16*>(in), rows,
                static_cast<int>(cols), out, scales);
}

}  // namespace sy::kernels
