// sm90_rms_norm: RMSNorm of independent segments (a row, or one head of a row), f32 in, bf16 out
// (the next GEMM's input) or f32 in place (Qwen3 / OLMoE q and k norms). A segment of at most
// kWarpMaxWidth values is one warp's work (8 per CTA: per-head norms have thousands of 128-wide
// segments); a wider one is a whole CTA's, its warps' partial sums of squares meeting in shared
// memory. Aligned segments whose width is a multiple of 4 take sm90_rms_norm_vec4 (one read of x
// and the weight, held in registers); the rest take two passes, the second re-reading x from L1.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kWarpMaxWidth = 1024;
// float4 chunks a thread of sm90_rms_norm_vec4 holds: rows up to 8,192 wide on a CTA (every
// model's hidden size), and every warp-sized segment.
constexpr int kVec4Chunks = 8;

struct RmsNormParams {
  const float* x;
  int64_t x_stride;  // between rows
  int64_t segments;  // rows * groups
  int64_t groups;    // segments in a row, `width` apart
  int64_t width;
  const float* weight;
  float eps;
  __nv_bfloat16* out_bf16;  // either output or both; in place, out_f32 = x
  float* out_f32;
  int64_t out_stride;
};

// A team's sum over its lanes: a warp's shuffles, then (kTeam = kThreads) the warps' partial
// sums through shared memory.
template <int kTeam>
__device__ __forceinline__ float TeamSum(float sum) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(~0u, sum, off);
  if constexpr (kTeam == kThreads) {
    constexpr int kWarps = kThreads / 32;
    __shared__ float partial[kWarps];
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
    __syncthreads();
    sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += partial[w];
  }
  return sum;
}

// transformers: variance = mean(x^2) in f32, x * rsqrt(variance + eps), then * weight.
__device__ __forceinline__ float InverseRms(float sum_squares, int64_t width, float eps) {
  return 1.0f / sqrtf(sum_squares / static_cast<float>(width) + eps);
}

// This thread's segment (-1 past the last) and rank in the team of kTeam threads working on it.
struct TeamSegment {
  int64_t segment;
  int rank;
};
template <int kTeam>
__device__ __forceinline__ TeamSegment SegmentOfThisThread(const RmsNormParams& p) {
  static_assert(kTeam == 32 || kTeam == kThreads);
  const int64_t segment =
      static_cast<int64_t>(blockIdx.x) * (kThreads / kTeam) + threadIdx.x / kTeam;
  return {segment < p.segments ? segment : -1, static_cast<int>(threadIdx.x % kTeam)};
}

// Where segment `s` starts in x and in the output.
__device__ __forceinline__ int64_t SegmentInX(const RmsNormParams& p, int64_t s) {
  return s / p.groups * p.x_stride + s % p.groups * p.width;
}
__device__ __forceinline__ int64_t SegmentInOut(const RmsNormParams& p, int64_t s) {
  return s / p.groups * p.out_stride + s % p.groups * p.width;
}

// kTeam threads normalise one segment: 32 (a warp) or kThreads (the CTA), a value at a time.
template <int kTeam>
__global__ void __launch_bounds__(kThreads) sm90_rms_norm(RmsNormParams p) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const auto [segment, rank] = SegmentOfThisThread<kTeam>(p);
  // Only the warp-per-segment form can run off the end, and it returns a whole warp at a time.
  if (segment < 0) return;
  const float* x = p.x + SegmentInX(p, segment);
  const int64_t out_offset = SegmentInOut(p, segment);
  float sum = 0.0f;
  for (int64_t c = rank; c < p.width; c += kTeam) sum += x[c] * x[c];
  const float inv = InverseRms(TeamSum<kTeam>(sum), p.width, p.eps);
  for (int64_t c = rank; c < p.width; c += kTeam) {
    const float y = p.weight[c] * (x[c] * inv);
    if (p.out_bf16 != nullptr) p.out_bf16[out_offset + c] = __float2bfloat16_rn(y);
    if (p.out_f32 != nullptr) p.out_f32[out_offset + c] = y;
  }
}

// The same for segments of at most kTeam * 4 * kVec4Chunks values, 16-byte aligned: a thread
// issues all its loads of x and of the weight at once and keeps them in registers, so the kernel
// waits on memory once instead of once per value (at batch 1 the scalar form took 8.7 us for a
// 4096-wide row on the H200, 16 dependent round trips and then as many again).
template <int kTeam>
__global__ void __launch_bounds__(kThreads) sm90_rms_norm_vec4(RmsNormParams p) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const auto [segment, rank] = SegmentOfThisThread<kTeam>(p);
  if (segment < 0) return;
  const auto* x = reinterpret_cast<const float4*>(p.x + SegmentInX(p, segment));
  const auto* weight = reinterpret_cast<const float4*>(p.weight);
  const int64_t out_offset = SegmentInOut(p, segment);
  const int chunks = static_cast<int>(p.width / 4);
  float4 xv[kVec4Chunks], wv[kVec4Chunks];
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kVec4Chunks; ++i) {
    const int c = rank + i * kTeam;
    xv[i] = c < chunks ? x[c] : make_float4(0.f, 0.f, 0.f, 0.f);
    wv[i] = c < chunks ? __ldg(&weight[c]) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
#pragma unroll
  for (int i = 0; i < kVec4Chunks; ++i)
    sum += xv[i].x * xv[i].x + xv[i].y * xv[i].y + xv[i].z * xv[i].z + xv[i].w * xv[i].w;
  const float inv = InverseRms(TeamSum<kTeam>(sum), p.width, p.eps);
#pragma unroll
  for (int i = 0; i < kVec4Chunks; ++i) {
    const int c = rank + i * kTeam;
    if (c >= chunks) break;
    const float4 y = make_float4(wv[i].x * (xv[i].x * inv), wv[i].y * (xv[i].y * inv),
                                 wv[i].z * (xv[i].z * inv), wv[i].w * (xv[i].w * inv));
    if (p.out_bf16 != nullptr) {
      *reinterpret_cast<uint2*>(p.out_bf16 + out_offset + 4 * c) =
          make_uint2(PackBf16(y.x, y.y), PackBf16(y.z, y.w));
    }
    if (p.out_f32 != nullptr) *reinterpret_cast<float4*>(p.out_f32 + out_offset + 4 * c) = y;
  }
}

bool Aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Whether the segments fit sm90_rms_norm_vec4 with a team of `team` threads.
bool FitsVec4(const RmsNormParams& p, int64_t team) {
  return p.width % 4 == 0 && p.width <= team * 4 * kVec4Chunks && p.x_stride % 4 == 0 &&
         p.out_stride % 4 == 0 && Aligned(p.x, 16) && Aligned(p.weight, 16) &&
         Aligned(p.out_f32, 16) && Aligned(p.out_bf16, 8);
}

std::string LaunchRmsNorm(const RmsNormParams& p, void* stream) {
  if (p.width <= kWarpMaxWidth) {
    const int64_t blocks = (p.segments + kThreads / 32 - 1) / (kThreads / 32);
    if (blocks > INT_MAX) return "sm90_rms_norm: too many rows";
    const dim3 grid(static_cast<unsigned>(blocks));
    return FitsVec4(p, 32) ? Launch("sm90_rms_norm_vec4<warp>", sm90_rms_norm_vec4<32>, grid,
                                    dim3(kThreads), 0, stream, true, p)
                           : Launch("sm90_rms_norm<warp>", sm90_rms_norm<32>, grid, dim3(kThreads),
                                    0, stream, true, p);
  }
  if (p.segments > INT_MAX) return "sm90_rms_norm: too many rows";
  const dim3 grid(static_cast<unsigned>(p.segments));
  return FitsVec4(p, kThreads) ? Launch("sm90_rms_norm_vec4<cta>", sm90_rms_norm_vec4<kThreads>,
                                        grid, dim3(kThreads), 0, stream, true, p)
                               : Launch("sm90_rms_norm<cta>", sm90_rms_norm<kThreads>, grid,
                                        dim3(kThreads), 0, stream, true, p);
}

}  // namespace

std::string LaunchRmsNormToBF16(const float* x, int64_t x_stride, int64_t rows, int64_t width,
                                const float* weight, float eps, uint16_t* out, int64_t out_stride,
                                void* stream, float* out_f32) {
  if (rows == 0) return "";
  if (width <= 0) return "sm90_rms_norm: width " + std::to_string(width) + " must be positive";
  return LaunchRmsNorm({x, x_stride, rows, 1, width, weight, eps,
                        reinterpret_cast<__nv_bfloat16*>(out), out_f32, out_stride},
                       stream);
}

std::string LaunchRmsNormInPlace(float* x, int64_t row_stride, int64_t rows, int64_t groups,
                                 int64_t width, const float* weight, float eps, void* stream) {
  if (rows == 0) return "";
  if (width <= 0 || groups <= 0) {
    return "sm90_rms_norm: width " + std::to_string(width) + " and groups " +
           std::to_string(groups) + " must be positive";
  }
  return LaunchRmsNorm(
      {x, row_stride, rows * groups, groups, width, weight, eps, nullptr, x, row_stride}, stream);
}

}  // namespace sy::kernels
