// sm90_moe_combine: out[t] (+)= sum over kept slots j of rows_out[t * k + j], the weighted
// expert outputs the prefill down GEMM wrote. Summed in slot order, so prefill results are
// deterministic. 8 outputs (one 16-byte load per slot) per thread.
#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

struct CombineParams {
  const uint4* rows;  // bf16 [slots, H] as 8-element chunks
  const int32_t* ids;
  float4* out;             // f32 [T, H]
  int64_t chunks_per_row;  // H / 8
  int64_t total_chunks;    // T * H / 8
  int top_k;
  int accumulate;
};

__global__ void __launch_bounds__(256) sm90_moe_combine(CombineParams p) {
  WaitForPredecessor();
  AllowSuccessor();
  for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < p.total_chunks;
       i += static_cast<int64_t>(gridDim.x) * 256) {
    const int64_t token = i / p.chunks_per_row, chunk = i % p.chunks_per_row;
    float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < p.top_k; ++j) {
      const int64_t slot = token * p.top_k + j;
      if (p.ids[slot] < 0) continue;  // dropped: its row was never written
      const uint4 v = p.rows[slot * p.chunks_per_row + chunk];
      const auto* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __bfloat1622float2(h[e]);
        sum[2 * e] += f.x;
        sum[2 * e + 1] += f.y;
      }
    }
    float4* out = p.out + 2 * i;
    if (p.accumulate) {
      const float4 a = out[0], b = out[1];
      sum[0] += a.x, sum[1] += a.y, sum[2] += a.z, sum[3] += a.w;
      sum[4] += b.x, sum[5] += b.y, sum[6] += b.z, sum[7] += b.w;
    }
    out[0] = make_float4(sum[0], sum[1], sum[2], sum[3]);
    out[1] = make_float4(sum[4], sum[5], sum[6], sum[7]);
  }
}

}  // namespace

std::string LaunchCombine(const MoeProblem& problem, const MoePlan& plan,
                          const MoeWorkspaceView& ws, float* out, bool accumulate, void* stream) {
  CombineParams p{};
  p.rows = reinterpret_cast<const uint4*>(ws.rows_out);
  p.ids = ws.topk_ids;
  p.out = reinterpret_cast<float4*>(out);
  p.chunks_per_row = problem.hidden / 8;
  p.total_chunks = problem.tokens * p.chunks_per_row;
  p.top_k = problem.top_k;
  p.accumulate = accumulate ? 1 : 0;
  if (p.total_chunks == 0) return "";
  const int64_t blocks = std::min<int64_t>((p.total_chunks + 255) / 256, 132 * 16);
  return Launch("sm90_moe_combine", sm90_moe_combine, dim3(static_cast<unsigned>(blocks)),
                dim3(256), 0, stream, plan.programmatic_launch, p);
}

}  // namespace sy::kernels
