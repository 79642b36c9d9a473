// Small device kernels around the MoE layer: f32 -> bf16 activations, shared-expert routing
// (Qwen2-MoE's sigmoid gate), the experts' down biases (gpt-oss), seeded uniform fills (random
// bf16 or fp8 weights made on the device, so a full-size layer needs no host copy), and the
// workspace's initial state.
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

__global__ void sm90_f32_to_bf16(const float* in, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * 256)
    out[i] = __float2bfloat16_rn(in[i]);
}

// One warp per token: ids = 0, weights = sigmoid(x . gate) or 1.
__global__ void sm90_shared_expert_routing(const float* hidden, const float* gate, int64_t tokens,
                                           int64_t h, int32_t* ids, float* weights) {
  const int64_t t = blockIdx.x * 8ll + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (t >= tokens) return;
  float weight = 1.0f;
  if (gate != nullptr) {
    float dot = 0.0f;
    for (int64_t c = lane; c < h; c += 32) dot += hidden[t * h + c] * gate[c];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(~0u, dot, off);
    weight = 1.0f / (1.0f + expf(-dot));
  }
  if (lane == 0) {
    ids[t] = 0;
    weights[t] = weight;
  }
}

// One CTA per token: out[t] += sum_j w[t, j] * bias[ids[t, j]] over its kept slots. Kept out of
// the down GEMMs' epilogues, where the bias pointer cost the decode kernel its register budget.
__global__ void sm90_moe_add_down_bias(const int32_t* ids, const float* weights, const float* bias,
                                       int top_k, int64_t hidden, float* out) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < hidden; c += 256) {
    float sum = 0.0f;
    for (int j = 0; j < top_k; ++j) {
      const int32_t e = ids[t * top_k + j];
      if (e >= 0) sum += weights[t * top_k + j] * bias[e * hidden + c];
    }
    out[t * hidden + c] += sum;
  }
}

// splitmix64 of (seed, index): the same numbers for any launch shape.
__device__ __forceinline__ float UniformSigned(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

__global__ void sm90_fill_uniform_bf16(__nv_bfloat16* out, int64_t n, float scale, uint64_t seed,
                                       int64_t first) {
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * 256)
    out[i] = __float2bfloat16_rn(scale * UniformSigned(seed, first + i));
}

__global__ void sm90_fill_uniform_f32(float* out, int64_t n, float scale, uint64_t seed) {
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * 256)
    out[i] = scale * UniformSigned(seed, i);
}

__global__ void sm90_fill_uniform_fp8_e4m3(uint8_t* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * 256)
    out[i] = __nv_cvt_float_to_fp8(448.0f * UniformSigned(seed, i), __NV_SATFINITE, __NV_E4M3);
}

__global__ void sm90_fill_random_bytes(uint8_t* out, int64_t n, uint8_t mask, uint64_t seed) {
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * 256)
    out[i] = static_cast<uint8_t>(127.99f * (UniformSigned(seed, i) + 1.0f)) & mask;
}

unsigned GridFor(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 132 * 32)));
}

}  // namespace

std::string LaunchF32ToBF16(const float* in, uint16_t* out, int64_t n, void* stream) {
  if (n == 0) return "";
  return Launch("sm90_f32_to_bf16", sm90_f32_to_bf16, dim3(GridFor(n)), dim3(256), 0, stream, false,
                in, reinterpret_cast<__nv_bfloat16*>(out), n);
}

std::string LaunchSharedRouting(const float* hidden, const float* gate, int64_t tokens,
                                int64_t hidden_size, int32_t* ids, float* weights, void* stream) {
  if (tokens == 0) return "";
  return Launch("sm90_shared_expert_routing", sm90_shared_expert_routing,
                dim3(static_cast<unsigned>((tokens + 7) / 8)), dim3(256), 0, stream, false, hidden,
                gate, tokens, hidden_size, ids, weights);
}

std::string LaunchFillUniformBF16(uint16_t* out, int64_t n, float scale, uint64_t seed,
                                  void* stream, int64_t first) {
  if (n == 0) return "";
  return Launch("sm90_fill_uniform_bf16", sm90_fill_uniform_bf16, dim3(GridFor(n)), dim3(256), 0,
                stream, false, reinterpret_cast<__nv_bfloat16*>(out), n, scale, seed, first);
}

std::string LaunchFillUniformF32(float* out, int64_t n, float scale, uint64_t seed, void* stream) {
  if (n == 0) return "";
  return Launch("sm90_fill_uniform_f32", sm90_fill_uniform_f32, dim3(GridFor(n)), dim3(256), 0,
                stream, false, out, n, scale, seed);
}

std::string LaunchFillRandomBytes(uint8_t* out, int64_t n, uint8_t mask, uint64_t seed,
                                  void* stream) {
  if (n == 0) return "";
  return Launch("sm90_fill_random_bytes", sm90_fill_random_bytes, dim3(GridFor(n)), dim3(256), 0,
                stream, false, out, n, mask, seed);
}

std::string LaunchFillUniformFp8E4M3(uint8_t* out, int64_t n, uint64_t seed, void* stream) {
  if (n == 0) return "";
  return Launch("sm90_fill_uniform_fp8_e4m3", sm90_fill_uniform_fp8_e4m3, dim3(GridFor(n)),
                dim3(256), 0, stream, false, out, n, seed);
}

std::string LaunchAddDownBias(const MoeProblem& problem, const MoeWorkspaceView& ws,
                              const float* down_bias, float* out, void* stream) {
  if (problem.tokens == 0) return "";
  return Launch("sm90_moe_add_down_bias", sm90_moe_add_down_bias,
                dim3(static_cast<unsigned>(problem.tokens)), dim3(256), 0, stream, false,
                ws.topk_ids, ws.topk_weights, down_bias, problem.top_k, problem.hidden, out);
}

std::string InitMoeWorkspace(void* workspace, void* stream) {
  const cudaError_t err =
      cudaMemsetAsync(workspace, 0, MoeWorkspaceStateBytes(), static_cast<cudaStream_t>(stream));
  if (err == cudaSuccess) return "";
  cudaGetLastError();
  return std::string("InitMoeWorkspace: ") + cudaGetErrorString(err);
}

}  // namespace sy::kernels
