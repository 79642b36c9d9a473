// sm90_gather_sorted_rows: x's token rows in the expert-sorted order of the slots, so the wgmma
// prefill GEMMs read gate_up's A through TMA as they read down's (TMA has no row gather on
// Hopper): bf16 rows, or w8a8's e4m3 rows with their scales (x quantized once per token, then
// copied to each of its k positions: quantizing per position instead re-reads x k times, and x
// outgrows L2 at DeepSeek-V3's 4096 tokens). One CTA a block of the block table; rows past the
// block's end are left alone (the GEMM never stores their outputs). Rows are copied 16 bytes
// at a time.
#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerCta = 16;  // a block's rows are split over gridDim.y CTAs

struct GatherParams {
  const uint4* src;  // [T, row_chunks]
  int row_chunks, top_k;
  const int32_t* num_blocks;
  const BlockInfo* blocks;
  const int32_t* sorted_slots;
  uint4* dst;  // [T * k, row_chunks]
  // w8a8 (else scale_groups == 0): scales [scale_groups, ld] of the token rows and of the
  // positions.
  int scale_groups;
  const float* src_scales;
  int64_t src_ld;
  float* dst_scales;
  int64_t dst_ld;
};

__global__ void __launch_bounds__(kThreads) sm90_gather_sorted_rows(GatherParams p) {
  // The block table and the slot list come from the routing kernel, w8a8's rows from the
  // quantizer.
  WaitForPredecessor();
  AllowSuccessor();
  if (static_cast<int>(blockIdx.x) >= *p.num_blocks) return;
  const int end = p.blocks[blockIdx.x].end;
  for (int pos = p.blocks[blockIdx.x].begin + blockIdx.y; pos < end; pos += gridDim.y) {
    const int token = p.sorted_slots[pos] / p.top_k;
    const uint4* src = p.src + static_cast<int64_t>(token) * p.row_chunks;
    uint4* dst = p.dst + static_cast<int64_t>(pos) * p.row_chunks;
    for (int i = threadIdx.x; i < p.row_chunks; i += kThreads) dst[i] = src[i];
    for (int g = threadIdx.x; g < p.scale_groups; g += kThreads)
      p.dst_scales[g * p.dst_ld + pos] = p.src_scales[g * p.src_ld + token];
  }
}

std::string Gather(const MoeProblem& problem, const MoePlan& plan, const MoeWorkspaceView& ws,
                   GatherParams p, void* stream) {
  if (plan.max_blocks == 0) return "";
  p.top_k = problem.top_k;
  p.num_blocks = ws.num_blocks;
  p.blocks = ws.blocks;
  p.sorted_slots = ws.sorted_slots;
  const dim3 grid(static_cast<unsigned>(plan.max_blocks), plan.block_m / kRowsPerCta);
  return Launch("sm90_gather_sorted_rows", sm90_gather_sorted_rows, grid, dim3(kThreads), 0, stream,
                plan.programmatic_launch, p);
}

}  // namespace

std::string LaunchGatherSortedRows(const MoeProblem& problem, const MoePlan& plan, const void* x,
                                   const MoeWorkspaceView& ws, void* out, void* stream) {
  if (problem.hidden % 8 != 0) return "sm90_gather_sorted_rows: hidden must be a multiple of 8";
  GatherParams p{};
  p.src = static_cast<const uint4*>(x);
  p.row_chunks = static_cast<int>(problem.hidden / 8);
  p.dst = static_cast<uint4*>(out);
  return Gather(problem, plan, ws, p, stream);
}

std::string LaunchGatherSortedFp8Rows(const MoeProblem& problem, const MoePlan& plan,
                                      const W8a8Operand& tokens, const MoeWorkspaceView& ws,
                                      const W8a8Operand& out, void* stream) {
  if (problem.hidden % kMoeFp8Block != 0)
    return "sm90_gather_sorted_rows: w8a8 rows need hidden % 128 == 0";
  GatherParams p{};
  p.src = reinterpret_cast<const uint4*>(tokens.rows);
  p.row_chunks = static_cast<int>(problem.hidden / 16);
  p.dst = reinterpret_cast<uint4*>(out.rows);
  p.scale_groups = static_cast<int>(problem.hidden / kMoeFp8Block);
  p.src_scales = tokens.scales;
  p.src_ld = tokens.scales_ld;
  p.dst_scales = out.scales;
  p.dst_ld = out.scales_ld;
  return Gather(problem, plan, ws, p, stream);
}

}  // namespace sy::kernels
