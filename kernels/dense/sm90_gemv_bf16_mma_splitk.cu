// sm90_gemv_bf16_mma_splitk: the dense projections at decode (q/k/v, o_proj, MLA's projections,
// the LM head) when a step has at most 16 rows: out f32 [rows, n] = x bf16 [rows, k] .
// w bf16 [n, k]^T + beta * out. At that size the GEMM is a GEMV: its time is the time it takes to
// read w once from HBM, and the kernel's job is keeping enough weight bytes in flight.
//
// - CTA tile: 8 warps own 16 weight rows and split K eight ways; a cluster of `splits` CTAs
//   (1, 2, 4 or 8) may split K further when the rows alone give too few CTAs to fill the GPU
//   (n = 576..1536 at k = 7168). Warp partial sums meet in shared memory and the cluster's in
//   CTA rank 0's shared memory (DSMEM), both summed in a fixed order: no atomics, so the result
//   is bit-identical run to run (the MoE decode combine is not; this adds nothing to that).
// - Tensor cores, swap-AB: the 16 weight rows are the M side of mma.m16n8k16 and the tokens the
//   8-wide N side (one or two n8 tiles), as in the MoE decode kernel. CUDA-core FMAs would not
//   keep up: at 16 rows the FMAs per weight byte exceed an SM's FP32 rate at HBM speed.
// - Loads: per 32-wide k-step a lane reads 16 contiguous bytes of each of its two weight rows
//   (g and g + 8) with ld.global.nc.L1::no_allocate, kUnroll = 8 steps ahead (8 KiB per warp,
//   128 KiB per SM at two CTAs), straight into registers. The dot product does not care about
//   the order of k, so those 8 values are the lane's A fragment of two MMAs under a permutation
//   of k, and its token fragment is the same 16 bytes of the token row (L1-cached: every warp
//   of the SM reads x, which is at most 16 x 14 KiB here). No shared-memory staging.
// - Shapes: k % 8 == 0 and 16-byte aligned x and w (whole 16-byte loads; a ragged last step
//   zeroes the lanes past k), any n (rows past n read row n - 1 and are not written). Anything
//   else is refused by CheckGemvBF16 and the model falls back to cuBLAS.
// - beta == 0 does not read out (it may hold NaN); otherwise out = sum + beta * out, once.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

namespace cg = cooperative_groups;

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kCtasPerSm = 2;  // __launch_bounds__ below: 128 registers a thread
constexpr int kTileRows = 16;  // the MMA's M
constexpr int kStepK = 32;     // two k16 MMAs from one 16-byte load per row
constexpr int kUnroll = 8;     // k-steps in flight per warp
constexpr int kMaxSplits = 8;  // the portable cluster size
// A split is worth it only while each warp keeps this many steps (half an unrolled group).
constexpr int64_t kMinStepsPerWarp = kUnroll / 2;

struct GemvParams {
  const __nv_bfloat16* x;  // [rows, k]
  const __nv_bfloat16* w;  // [n, k]
  float* out;              // [rows, n]
  int64_t n;
  int64_t k;
  int32_t rows;
  int32_t splits;  // CTAs of a cluster splitting K (launched as a cluster when > 1)
  float beta;
};

// kTokenTiles n8 tiles of tokens: 1 for rows <= 8, 2 for rows <= 16.
template <int kTokenTiles>
__global__ void __launch_bounds__(kThreads, kCtasPerSm) sm90_gemv_bf16_mma_splitk(GemvParams p) {
  constexpr int kOutputs = kTokenTiles * 128;  // accumulators of a warp: 32 lanes x 4 x tiles
  __shared__ float partial[kWarps][kOutputs];
  __shared__ float cta_sum[kOutputs];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the MMA's group and thread-in-group
  const int rank = p.splits > 1 ? static_cast<int>(cg::this_cluster().block_rank()) : 0;
  // A cluster's CTAs are consecutive in x, so they share one row tile.
  const int64_t row0 = static_cast<int64_t>(blockIdx.x / p.splits) * kTileRows;

  // Rows past n read row n - 1: in bounds, and their sums are never written.
  const int64_t row_a = min(row0 + g, p.n - 1), row_b = min(row0 + g + 8, p.n - 1);
  const __nv_bfloat16* wa = p.w + row_a * p.k + 8 * t;
  const __nv_bfloat16* wb = p.w + row_b * p.k + 8 * t;
  const __nv_bfloat16* xs[kTokenTiles];
  bool token_here[kTokenTiles];
#pragma unroll
  for (int nt = 0; nt < kTokenTiles; ++nt) {
    const int token = nt * 8 + g;
    token_here[nt] = token < p.rows;
    xs[nt] = p.x + (token_here[nt] ? token : 0) * p.k + 8 * t;
  }

  // This warp's k-steps: part (rank, warp) of kWarps * splits near-equal ranges.
  const int64_t steps = (p.k + kStepK - 1) / kStepK;
  const int64_t parts = static_cast<int64_t>(kWarps) * p.splits;
  const int64_t part = static_cast<int64_t>(rank) * kWarps + warp;
  const int64_t begin = steps * part / parts, end = steps * (part + 1) / parts;

  float acc[kTokenTiles][4] = {};
  for (int64_t s = begin; s < end; s += kUnroll) {
    uint4 a[kUnroll], b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t k0 = (s + u) * kStepK;
      // k % 8 == 0: a lane's 8 values are all below k or all past it (a ragged last step).
      if (s + u < end && k0 + 8 * t < p.k) {
        a[u] = LoadStream(wa + k0);
        b[u] = LoadStream(wb + k0);
      } else {
        a[u] = b[u] = make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (s + u >= end) break;  // the same for the whole warp
      const int64_t k0 = (s + u) * kStepK;
      const bool in_k = k0 + 8 * t < p.k;
#pragma unroll
      for (int nt = 0; nt < kTokenTiles; ++nt) {
        // Logical k (2t, 2t+1 | 2t+8, 2t+9) of the first MMA is physical 8t + (0, 1 | 2, 3), of
        // the second 8t + (4, 5 | 6, 7): the same map for the weights (A) and the tokens (B).
        const uint4 xv =
            token_here[nt] && in_k ? LoadShared16(xs[nt] + k0) : make_uint4(0, 0, 0, 0);
        MmaBf16(acc[nt], a[u].x, b[u].x, a[u].y, b[u].y, xv.x, xv.y);
        MmaBf16(acc[nt], a[u].z, b[u].z, a[u].w, b[u].w, xv.z, xv.w);
      }
    }
  }

  // Accumulator e = nt * 128 + i * 32 + lane: consecutive lanes, conflict-free stores.
#pragma unroll
  for (int nt = 0; nt < kTokenTiles; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) partial[warp][nt * 128 + i * 32 + lane] = acc[nt][i];
  }
  __syncthreads();
  const int e = threadIdx.x;
  float sum = 0.0f;
  if (e < kOutputs) {
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += partial[w][e];
  }
  if (p.splits > 1) {
    cg::cluster_group cluster = cg::this_cluster();
    if (e < kOutputs) cta_sum[e] = sum;
    cluster.sync();  // every CTA's sums are written and visible to the cluster
    if (rank == 0 && e < kOutputs) {
      sum = 0.0f;
      for (int r = 0; r < p.splits; ++r) sum += cluster.map_shared_rank(&cta_sum[0], r)[e];
    }
    cluster.sync();  // no CTA leaves (freeing its shared memory) before rank 0 has read it
    if (rank != 0) return;
  }
  if (e >= kOutputs) return;
  // The MMA's D layout: element i of lane (g, t) is weight row g + 8 * (i / 2) and token
  // 2t + (i % 2) of tile nt.
  const int nt = e / 128, i = (e / 32) % 4, l = e % 32;
  const int token = nt * 8 + 2 * (l % 4) + i % 2;
  const int64_t row = row0 + l / 4 + 8 * (i / 2);
  if (token >= p.rows || row >= p.n) return;
  float* o = p.out + token * p.n + row;
  *o = p.beta == 0.0f ? sum : sum + p.beta * *o;
}

// Splits of K over a cluster: doubled while the doubled grid still fits in one wave of
// kCtasPerSm CTAs per SM and each warp keeps kMinStepsPerWarp steps.
int ChooseSplits(int64_t n, int64_t k, int sms) {
  const int64_t tiles = (n + kTileRows - 1) / kTileRows, steps = (k + kStepK - 1) / kStepK;
  const int64_t slots = static_cast<int64_t>(kCtasPerSm) * sms;
  int splits = 1;
  while (splits < kMaxSplits && tiles * 2 * splits <= slots &&
         steps >= 2 * splits * kWarps * kMinStepsPerWarp) {
    splits *= 2;
  }
  return splits;
}

}  // namespace

std::string CheckGemvBF16(const uint16_t* x, int64_t rows, int64_t k, const uint16_t* w,
                          int64_t n) {
  const std::string shape = "sm90_gemv_bf16: rows " + std::to_string(rows) + ", n " +
                            std::to_string(n) + ", k " + std::to_string(k) + ": ";
  if (rows < 0 || rows > kGemvBF16MaxRows) {
    return shape + "rows must be at most " + std::to_string(kGemvBF16MaxRows);
  }
  if (n < 0 || k < 0) return shape + "negative size";
  if (k % 8 != 0) return shape + "k must be a multiple of 8 (16-byte loads)";
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w) % 16 != 0) {
    return shape + "x and w must be 16-byte aligned";
  }
  // The grid (tiles x splits) and the k-step arithmetic stay in range.
  if ((n + kTileRows - 1) / kTileRows * kMaxSplits > INT_MAX || k > (int64_t{1} << 40)) {
    return shape + "too large";
  }
  return "";
}

std::string LaunchGemvBF16(const uint16_t* x, int64_t rows, int64_t k, const uint16_t* w, int64_t n,
                           float* out, float beta, void* stream, int splits) {
  if (std::string err = CheckGemvBF16(x, rows, k, w, n); !err.empty()) return err;
  if (rows == 0 || n == 0) return "";
  if (splits != 0 && splits != 1 && splits != 2 && splits != 4 && splits != 8) {
    return "sm90_gemv_bf16: splits " + std::to_string(splits) + " must be 0, 1, 2, 4 or 8";
  }
  if (splits == 0) {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return LaunchError("sm90_gemv_bf16: the SM count");
    }
    splits = ChooseSplits(n, k, sms);
  }
  const GemvParams p{reinterpret_cast<const __nv_bfloat16*>(x),
                     reinterpret_cast<const __nv_bfloat16*>(w),
                     out,
                     n,
                     k,
                     static_cast<int32_t>(rows),
                     splits,
                     beta};
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>((n + kTileRows - 1) / kTileRows * splits));
  config.blockDim = dim3(kThreads);
  config.stream = static_cast<cudaStream_t>(stream);
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeClusterDimension;
  attribute[0].val.clusterDim.x = static_cast<unsigned>(splits);
  attribute[0].val.clusterDim.y = 1;
  attribute[0].val.clusterDim.z = 1;
  config.attrs = attribute;
  config.numAttrs = splits > 1 ? 1 : 0;
  const cudaError_t err = rows > 8 ? cudaLaunchKernelEx(&config, sm90_gemv_bf16_mma_splitk<2>, p)
                                   : cudaLaunchKernelEx(&config, sm90_gemv_bf16_mma_splitk<1>, p);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("sm90_gemv_bf16: ") + cudaGetErrorString(err);
  }
  return "";
}

}  // namespace sy::kernels
