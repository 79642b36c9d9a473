// sm90_quantize_fp8_rows_1x128: the A operand of a w8a8 GEMM, quantized on the fly the way
// DeepSeek-V3's inference and vLLM's block-fp8 path do: per row and 128 columns,
// scale = amax / 448 (1 where that is 0), value = e4m3(x / scale), rounded to nearest even
// and saturated. Every step mirrors reference::QuantizeFp8Rows128 (IEEE division included), so
// the bytes match it exactly.
//
// The scales come out k block-major (W8a8Operand, moe_cuda.h), so the GEMM fetches a tile's row
// scales with one TMA box. Half a warp per (row, 128 columns), eight columns (16 bytes) a lane,
// and a grid of one such pair per half-warp: a thread has one load in flight, so only the whole
// matrix's work at once keeps the bytes streaming (a grid that looped over rows ran Mixtral's act
// at 1.4 TB/s).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    sm90_quantize_fp8_rows_1x128(const __nv_bfloat16* in, int64_t rows, int cols, uint8_t* out,
                                 float* scales, int64_t scales_ld) {
  // The rows come from the kernel before (the gate_up GEMM's act), and the kernel after must
  // see that kernel's predecessors finished too.
  WaitForPredecessor();
  AllowSuccessor();
  Fp8GroupSlice s;
  if (!Fp8GroupSliceOf(rows, cols / kFp8Group, &s)) return;
  const int64_t at = s.row * cols + s.group * kFp8Group + 8 * s.lane;
  float2 v[4];
  const float scale = Fp8GroupScale(LoadBf16x8(in + at, v), s.half_warp);
  *reinterpret_cast<uint2*>(out + at) =
      make_uint2(QuantizeFp8Pair(v[0], scale) | QuantizeFp8Pair(v[1], scale) << 16,
                 QuantizeFp8Pair(v[2], scale) | QuantizeFp8Pair(v[3], scale) << 16);
  if (s.lane == 0) scales[s.group * scales_ld + s.row] = scale;
}

}  // namespace

std::string LaunchQuantizeFp8Rows(const void* in, int64_t rows, int64_t cols,
                                  const W8a8Operand& out, bool programmatic, void* stream) {
  if (cols % kFp8Group != 0) return "fp8 activation quantization: cols must be a multiple of 128";
  if (out.scales_ld < rows) return "fp8 activation quantization: scales_ld must be >= rows";
  if (rows == 0) return "";
  const int64_t threads = rows * (cols / kFp8Group) * kFp8LanesPerGroup;
  const dim3 grid(static_cast<unsigned>((threads + kThreads - 1) / kThreads));
  return Launch("sm90_quantize_fp8_rows_1x128", sm90_quantize_fp8_rows_1x128, grid, dim3(kThreads),
                0, stream, programmatic, static_cast<const __nv_bfloat16*>(in), rows,
                static_cast<int>(cols), out.rows, out.scales, out.scales_ld);
}

}  // namespace sy::kernels
