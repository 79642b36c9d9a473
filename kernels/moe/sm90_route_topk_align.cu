// sm90_moe_route_topk_align: routing and alignment by expert in one launch.
//
// Every CTA routes tokens, one warp per token: softmax over E <= 256 logits in f32 (8 per
// lane in registers), k rounds of a warp argmax (ties go to the lower expert id, as the CPU
// reference does), optional renormalisation; or it copies ids/weights a router already wrote.
// Each kept slot bumps a global count per expert. The last CTA to finish (a ticket counter,
// so no second launch and no host round trip) turns the counts into offsets, the block table
// the grouped GEMMs walk (blocks of block_m slots, never spanning experts), and the sorted
// slot list, then zeroes the counters so the next launch, or a graph replay, starts clean.
#include <climits>

#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLogitsPerLane = 8;
constexpr int kMaxExperts = kMaxMoeExperts;

struct RouteAlignParams {
  const float* logits;
  const int32_t* ids_in;
  const float* weights_in;
  int renormalize;
  int tokens, experts, top_k, block_m;
  MoeWorkspaceView ws;
  int32_t* counts_out;
  float4* zero_out;
  int64_t zero_vec4;
};

__device__ void RouteToken(const RouteAlignParams& p, int t, int lane, int* counts) {
  const int E = p.experts, k = p.top_k;
  int my_id = -1;
  float my_weight = 0.0f;
  if (p.logits != nullptr) {
    float v[kMaxLogitsPerLane];
    float top = -INFINITY;
#pragma unroll
    for (int i = 0; i < kMaxLogitsPerLane; ++i) {
      const int e = lane + 32 * i;
      v[i] = e < E ? p.logits[static_cast<int64_t>(t) * E + e] : -INFINITY;
      top = fmaxf(top, v[i]);
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) top = fmaxf(top, __shfl_xor_sync(~0u, top, off));
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxLogitsPerLane; ++i) {
      v[i] = lane + 32 * i < E ? expf(v[i] - top) : 0.0f;
      sum += v[i];
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(~0u, sum, off);
    const float inv = 1.0f / sum;
#pragma unroll
    for (int i = 0; i < kMaxLogitsPerLane; ++i) v[i] *= inv;
    uint32_t taken = 0;
    float selected = 0.0f;
    for (int j = 0; j < k; ++j) {
      float best = -1.0f;
      int best_e = INT_MAX;
#pragma unroll
      for (int i = 0; i < kMaxLogitsPerLane; ++i) {
        const int e = lane + 32 * i;
        if (e < E && !((taken >> i) & 1u) && v[i] > best) {
          best = v[i];
          best_e = e;
        }
      }
#pragma unroll
      for (int off = 16; off > 0; off /= 2) {
        const float other = __shfl_xor_sync(~0u, best, off);
        const int other_e = __shfl_xor_sync(~0u, best_e, off);
        if (other > best || (other == best && other_e < best_e)) {
          best = other;
          best_e = other_e;
        }
      }
      if (lane == (best_e & 31)) taken |= 1u << (best_e >> 5);
      if (lane == j) {
        my_id = best_e;
        my_weight = best;
      }
      selected += best;
    }
    if (p.renormalize) my_weight /= selected;
  } else if (lane < k) {
    my_id = p.ids_in[static_cast<int64_t>(t) * k + lane];
    my_weight = p.weights_in[static_cast<int64_t>(t) * k + lane];
    if (my_id < 0 || my_id >= E) {  // dropped, or garbage we must not index with
      my_id = -1;
      my_weight = 0.0f;
    }
  }
  if (lane < k) {
    p.ws.topk_ids[static_cast<int64_t>(t) * k + lane] = my_id;
    p.ws.topk_weights[static_cast<int64_t>(t) * k + lane] = my_weight;
    if (my_id >= 0) atomicAdd(&counts[my_id], 1);
  }
}

// The last CTA: offsets, block table, sorted slots; leaves the counters zeroed. `local` holds
// the counts when one CTA did all the routing (in shared memory, no global counters).
__device__ void Align(const RouteAlignParams& p, const int* local) {
  __shared__ int s_count[kMaxExperts], s_offset[kMaxExperts], s_first_block[kMaxExperts],
      s_cursor[kMaxExperts];
  const int E = p.experts, bm = p.block_m;
  const int tid = threadIdx.x, lane = tid % 32;
  for (int e = tid; e < E; e += kThreads) {
    const int c = local != nullptr ? local[e] : atomicExch(&p.ws.counts[e], 0);
    s_count[e] = c;
    s_cursor[e] = 0;
    if (p.counts_out != nullptr) p.counts_out[e] = c;
  }
  __syncthreads();
  if (tid < 32) {  // one warp scans: each lane a contiguous run of experts
    const int per = (E + 31) / 32, e0 = min(E, lane * per), e1 = min(E, e0 + per);
    int slots = 0, blocks = 0;
    for (int e = e0; e < e1; ++e) {
      slots += s_count[e];
      blocks += (s_count[e] + bm - 1) / bm;
    }
    int incl_slots = slots, incl_blocks = blocks;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
      const int a = __shfl_up_sync(~0u, incl_slots, off), b = __shfl_up_sync(~0u, incl_blocks, off);
      if (lane >= off) {
        incl_slots += a;
        incl_blocks += b;
      }
    }
    int run_slots = incl_slots - slots, run_blocks = incl_blocks - blocks;
    for (int e = e0; e < e1; ++e) {
      s_offset[e] = run_slots;
      s_first_block[e] = run_blocks;
      run_slots += s_count[e];
      run_blocks += (s_count[e] + bm - 1) / bm;
    }
    if (lane == 31) *p.ws.num_blocks = incl_blocks;
  }
  __syncthreads();
  for (int e = tid; e < E; e += kThreads) {
    const int c = s_count[e], off = s_offset[e];
    for (int b = 0; b * bm < c; ++b) {
      p.ws.blocks[s_first_block[e] + b] =
          BlockInfo{e, off + b * bm, min(off + (b + 1) * bm, off + c), 0};
    }
  }
  const int slots = p.tokens * p.top_k;
  for (int s = tid; s < slots; s += kThreads) {
    const int e = __ldcg(&p.ws.topk_ids[s]);  // written by other CTAs: read from L2
    if (e >= 0) p.ws.sorted_slots[s_offset[e] + atomicAdd(&s_cursor[e], 1)] = s;
  }
  if (tid == 0) *p.ws.done = 0;
}

__global__ void __launch_bounds__(kThreads) sm90_moe_route_topk_align(RouteAlignParams p) {
  // The gate_up GEMM may start launching now; it waits for this grid before reading.
  AllowSuccessor();
  // Launched programmatically, this grid starts while the kernel before it (the router's logits,
  // or the previous layer, whose output this one may zero) still runs: wait for it first.
  WaitForPredecessor();
  // One CTA (decode: up to 8 tokens) counts in shared memory and needs no ticket: each global
  // round trip saved is about a microsecond on the layer's critical path.
  const bool single = gridDim.x == 1;
  __shared__ int s_hist[kMaxExperts];
  if (single) {
    for (int e = threadIdx.x; e < p.experts; e += kThreads) s_hist[e] = 0;
    __syncthreads();
  }
  int* counts = single ? s_hist : p.ws.counts;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int t = blockIdx.x * kWarps + warp; t < p.tokens; t += gridDim.x * kWarps)
    RouteToken(p, t, lane, counts);
  for (int64_t i = blockIdx.x * kThreads + threadIdx.x; i < p.zero_vec4;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    p.zero_out[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
  __shared__ bool is_last;
  __syncthreads();
  if (single) {
    Align(p, s_hist);
    return;
  }
  if (threadIdx.x == 0) {
    __threadfence();  // this CTA's counts and slots are visible before its ticket
    is_last = atomicAdd(p.ws.done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  Align(p, nullptr);
}

}  // namespace

std::string LaunchRouteAlign(const MoeProblem& problem, const MoePlan& plan,
                             const MoeRouting& routing, const MoeWorkspaceView& ws,
                             int32_t* expert_counts, float* zero_out, void* stream) {
  if (routing.logits != nullptr && problem.experts > 32 * kMaxLogitsPerLane)
    return "sm90_moe_route_topk_align: softmax routing supports at most 256 experts";
  if (routing.logits == nullptr && (routing.ids == nullptr || routing.weights == nullptr))
    return "sm90_moe_route_topk_align: neither logits nor ids and weights given";
  RouteAlignParams p{};
  p.logits = routing.logits;
  p.ids_in = routing.ids;
  p.weights_in = routing.weights;
  p.renormalize = routing.renormalize ? 1 : 0;
  p.tokens = static_cast<int>(problem.tokens);
  p.experts = problem.experts;
  p.top_k = problem.top_k;
  p.block_m = plan.block_m;
  p.ws = ws;
  p.counts_out = expert_counts;
  p.zero_out = reinterpret_cast<float4*>(zero_out);
  p.zero_vec4 = zero_out != nullptr ? problem.tokens * problem.hidden / 4 : 0;
  const int64_t wanted = (problem.tokens + kWarps - 1) / kWarps;
  const int grid = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(wanted, 264)));
  return Launch("sm90_moe_route_topk_align", sm90_moe_route_topk_align, dim3(grid), dim3(kThreads),
                0, stream, plan.programmatic_launch, p);
}

}  // namespace sy::kernels
