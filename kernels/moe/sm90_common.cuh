// Device helpers shared by the sm_90 MoE kernels: tensor-core MMA, streaming loads, async
// copies and programmatic dependent launch (PDL).
#ifndef SWITCHYARD_KERNELS_MOE_SM90_COMMON_CUH_
#define SWITCHYARD_KERNELS_MOE_SM90_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "kernels/moe/dequant_bits.h"
#include "kernels/moe/moe_cuda.h"

namespace sy::kernels {

// D += A . B for one m16n8k16 bf16 tile, f32 accumulators.
__device__ __forceinline__ void MmaBf16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16 bytes of weights read once: no L1 allocation, and a 256-byte L2 prefetch so the next
// loads of the row hit.
__device__ __forceinline__ uint4 LoadStream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// 16 bytes of activations, which other warps and CTAs of the SM read too: cached in L1.
__device__ __forceinline__ uint4 LoadShared16(const void* p) {
  return __ldg(static_cast<const uint4*>(p));
}

// PDL: wait until the grids this one depends on have finished and their writes are visible.
// A no-op when the kernel was launched without the programmatic attribute.
__device__ __forceinline__ void WaitForPredecessor() {
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
}
// PDL: let the next kernel of the stream start launching its CTAs.
__device__ __forceinline__ void AllowSuccessor() {
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

// MoeActivation of gate and up (biases already added).
__device__ __forceinline__ float ExpertActivation(const MoeWeightsView& w, float gate, float up) {
  if (w.activation == MoeActivation::kSwiglu) return Silu(gate) * up;
  const float g = fminf(gate, w.swiglu_limit);
  const float u = fminf(fmaxf(up, -w.swiglu_limit), w.swiglu_limit);
  return (u + 1.0f) * g / (1.0f + expf(-w.swiglu_alpha * g));
}

__device__ __forceinline__ uint32_t SmemAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void CpAsync16(void* smem, const void* global) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(SmemAddress(smem)), "l"(global));
}
// 4 bytes (a scale), through L1.
__device__ __forceinline__ void CpAsync4(void* smem, const void* global) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(SmemAddress(smem)), "l"(global));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile of 128-byte rows in the 128-byte
// swizzle, chunk c of row r stored at c ^ (r % 8): ldmatrix reads it without bank conflicts, and
// it is the layout wgmma's 128-byte-swizzle descriptors name (sm90_wgmma.cuh).
__device__ __forceinline__ int Swizzle128Bytes(int row, int chunk) {
  return row * 128 + ((chunk ^ (row & 7)) * 16);
}
// The same in elements of a tile of rows of 64 bf16.
__device__ __forceinline__ int Swizzle128(int row, int chunk) {
  return row * 64 + ((chunk ^ (row & 7)) * 8);
}

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SmemAddress(smem)));
}

__device__ __forceinline__ void LdMatrixX2(uint32_t (&r)[2], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(SmemAddress(smem)));
}
// Each 8 x 8 matrix transposed: rows of the stored matrix come back as columns.
__device__ __forceinline__ void LdMatrixX2Trans(uint32_t (&r)[2], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(SmemAddress(smem)));
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// Two e4m3 values (the low 16 bits of `two`) as bf16x2, exactly (dequant_bits.h). mul.rn.bf16x2
// keeps subnormal inputs, which is what carries e4m3's subnormals through.
__device__ __forceinline__ uint32_t Fp8x2ToBf16x2(uint32_t two) {
  uint32_t out;
  asm("mul.rn.bf16x2 %0, %1, %2;\n"
      : "=r"(out)
      : "r"(Fp8x2ToBf16x2Bits(two)), "r"(kBf16x2TwoPow120));
  return out;
}

// q - zero for the two u4 values of the low byte of `byte`, as exact bf16x2 (dequant_bits.h);
// `zero` is Bf16x2Of128Plus(zero point).
__device__ __forceinline__ uint32_t U4x2MinusZeroToBf16x2(uint32_t byte, uint32_t zero) {
  uint32_t out;
  asm("sub.rn.bf16x2 %0, %1, %2;\n" : "=r"(out) : "r"(U4x2ToBf16x2Plus128Bits(byte)), "r"(zero));
  return out;
}

// 8 e4m3 values (16 bytes' half) times `scale` as 8 bf16 (16 bytes), via the exact f16
// conversion of sm_89+.
__device__ __forceinline__ uint4 DequantizeFp8x8(uint32_t lo, uint32_t hi, float scale) {
  const uint32_t words[2] = {lo, hi};
  uint32_t out[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const auto two = static_cast<__nv_fp8x2_storage_t>(words[i / 2] >> (16 * (i % 2)));
    const float2 f = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(two, __NV_E4M3)));
    out[i] = PackBf16(f.x * scale, f.y * scale);
  }
  return make_uint4(out[0], out[1], out[2], out[3]);
}

// Activations quantized to e4m3 per row and 128 values (w8a8's A operand, fp8 dispatch rows): a
// half-warp per (row, group), 8 values a lane; `lane` covers values 8 lane .. 8 lane + 7.
inline constexpr int kFp8Group = 128, kFp8LanesPerGroup = 16;
struct Fp8GroupSlice {
  int64_t row;
  int group, lane;
  unsigned half_warp;  // the shuffle mask of the half-warp
};
// This thread's slice of `rows` x `groups`; false (for a whole half-warp together) past the end.
__device__ __forceinline__ bool Fp8GroupSliceOf(int64_t rows, int groups, Fp8GroupSlice* s) {
  const int64_t pair =
      (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kFp8LanesPerGroup;
  if (pair >= rows * groups) return false;
  s->row = pair / groups;
  s->group = static_cast<int>(pair % groups);
  s->lane = static_cast<int>(threadIdx.x % kFp8LanesPerGroup);
  s->half_warp = 0xffffu << (threadIdx.x % 32 / kFp8LanesPerGroup * kFp8LanesPerGroup);
  return true;
}

// Eight bf16 values (16 aligned bytes) as f32 pairs; returns their largest magnitude.
__device__ __forceinline__ float LoadBf16x8(const __nv_bfloat16* p, float2 v[4]) {
  const uint4 bits = *reinterpret_cast<const uint4*>(p);
  const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[i] = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&words[i]));
    amax = fmaxf(amax, fmaxf(fabsf(v[i].x), fabsf(v[i].y)));
  }
  return amax;
}

// The group's scale from each lane's amax: the half-warp's largest / 448 (IEEE division), 1
// where that is 0 (an all-zero group).
__device__ __forceinline__ float Fp8GroupScale(float amax, unsigned half_warp) {
#pragma unroll
  for (int offset = kFp8LanesPerGroup / 2; offset > 0; offset /= 2)
    amax = fmaxf(amax, __shfl_xor_sync(half_warp, amax, offset));
  const float ratio = __fdiv_rn(amax, 448.0f);
  return ratio > 0.0f ? ratio : 1.0f;
}

// e4m3 codes of v.x / scale and v.y / scale (low byte first), rounded to nearest even and
// saturated, after an IEEE division: bit for bit what the host's F32ToFP8E4M3(x / scale) gives.
__device__ __forceinline__ uint32_t QuantizeFp8Pair(float2 v, float scale) {
  return static_cast<uint32_t>(__nv_cvt_float2_to_fp8x2(
      make_float2(__fdiv_rn(v.x, scale), __fdiv_rn(v.y, scale)), __NV_SATFINITE, __NV_E4M3));
}

// The current device's SM count (132 on an H200), or 132 where it cannot be read.
inline int MultiprocessorCount() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    cudaGetLastError();
    return 132;
  }
  return count;
}

// "" or "what: CUDA error text" for the last launch.
inline std::string LaunchError(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return "";
  return std::string(what) + ": " + cudaGetErrorString(err);
}

// A launch of `grid` x `block` with `smem` bytes of dynamic shared memory on `stream`.
inline cudaLaunchConfig_t LaunchConfig(dim3 grid, dim3 block, size_t smem, void* stream) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = static_cast<cudaStream_t>(stream);
  return config;
}

// cudaLaunchKernelEx of `kernel` under `config`: "" or "what: CUDA error text".
template <typename... Params, typename... Args>
std::string LaunchConfigured(const char* what, void (*kernel)(Params...),
                             const cudaLaunchConfig_t& config, Args&&... args) {
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string(what) + ": " + cudaGetErrorString(err);
  }
  return "";
}

// Launches `kernel` with the PDL attribute when `programmatic`, so it may start while its
// predecessor on the stream finishes (it must call WaitForPredecessor before reading that
// predecessor's output).
template <typename... Params, typename... Args>
std::string Launch(const char* what, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   void* stream, bool programmatic, Args&&... args) {
  cudaLaunchConfig_t config = LaunchConfig(grid, block, smem, stream);
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = programmatic ? 1 : 0;
  return LaunchConfigured(what, kernel, config, std::forward<Args>(args)...);
}

// Launches `kernel` in thread block clusters of `cluster` CTAs along x (grid.x a multiple of
// it), whose CTAs share distributed shared memory.
template <typename... Params, typename... Args>
std::string LaunchInClusters(const char* what, void (*kernel)(Params...), dim3 grid, dim3 block,
                             size_t smem, void* stream, unsigned cluster, Args&&... args) {
  cudaLaunchConfig_t config = LaunchConfig(grid, block, smem, stream);
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeClusterDimension;
  attribute[0].val.clusterDim.x = cluster;
  attribute[0].val.clusterDim.y = 1;
  attribute[0].val.clusterDim.z = 1;
  config.attrs = attribute;
  config.numAttrs = 1;
  return LaunchConfigured(what, kernel, config, std::forward<Args>(args)...);
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_SM90_COMMON_CUH_
