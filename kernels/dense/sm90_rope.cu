// sm90_rope: rotary embedding in place, one CTA per row. The row's rotary_dim / 2 cos/sin pairs
// are computed once into shared memory (precise sincosf of the f32 product position * inv_freq,
// as transformers computes them in f32), then every (head, pair) of the row rotates with them.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxRotaryDim = 1024;

struct RopeParams {
  float* x;
  int64_t row_stride;
  int heads;
  int head_dim;
  int half;  // rotary_dim / 2
  const int32_t* positions;
  const float* inv_freq;
  float attention_factor;
  int stride;   // between pair i and pair i + 1: 1 (rotate_half) or 2 (interleaved)
  int partner;  // from a pair's first lane to its second: half or 1
};

__global__ void __launch_bounds__(kThreads) sm90_rope(RopeParams p) {
  __shared__ float cos_s[kMaxRotaryDim / 2], sin_s[kMaxRotaryDim / 2];
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const float position = static_cast<float>(p.positions[blockIdx.x]);
  for (int i = threadIdx.x; i < p.half; i += kThreads) {
    float s, c;
    // __fmul_rn: never contracted into the argument reduction, so the angle is the same f32
    // product transformers rounds.
    sincosf(__fmul_rn(position, p.inv_freq[i]), &s, &c);
    cos_s[i] = c * p.attention_factor;
    sin_s[i] = s * p.attention_factor;
  }
  __syncthreads();
  float* row = p.x + static_cast<int64_t>(blockIdx.x) * p.row_stride;
  for (int item = threadIdx.x; item < p.heads * p.half; item += kThreads) {
    const int head = item / p.half, i = item % p.half;
    float* first = row + head * p.head_dim + i * p.stride;
    const float a = first[0], b = first[p.partner];
    first[0] = a * cos_s[i] - b * sin_s[i];
    first[p.partner] = b * cos_s[i] + a * sin_s[i];
  }
}

}  // namespace

std::string LaunchRope(float* x, int64_t row_stride, int64_t rows, int64_t heads, int64_t head_dim,
                       int64_t rotary_dim, const int32_t* positions, const float* inv_freq,
                       float attention_factor, bool interleaved, void* stream) {
  if (rows == 0) return "";
  if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > head_dim ||
      rotary_dim > kMaxRotaryDim || heads <= 0 || heads * head_dim > INT_MAX || rows > INT_MAX) {
    return "sm90_rope: bad shape (rows " + std::to_string(rows) + ", heads " +
           std::to_string(heads) + ", head_dim " + std::to_string(head_dim) + ", rotary_dim " +
           std::to_string(rotary_dim) + "); rotary_dim must be even, at most head_dim and " +
           std::to_string(kMaxRotaryDim);
  }
  RopeParams p{};
  p.x = x;
  p.row_stride = row_stride;
  p.heads = static_cast<int>(heads);
  p.head_dim = static_cast<int>(head_dim);
  p.half = static_cast<int>(rotary_dim / 2);
  p.positions = positions;
  p.inv_freq = inv_freq;
  p.attention_factor = attention_factor;
  p.stride = interleaved ? 2 : 1;
  p.partner = interleaved ? 1 : p.half;
  return Launch("sm90_rope", sm90_rope, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0,
                stream, true, p);
}

}  // namespace sy::kernels
