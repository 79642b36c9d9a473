// sm90_gather_sorted_rows: x's token rows in the expert-sorted order of the slots, so the bf16
// wgmma prefill GEMM reads gate_up's A through TMA as it reads down's (TMA has no row gather on
// Hopper). One CTA a block of the block table; rows past the block's end are left alone (the
// GEMM never stores their outputs). A row is H bf16, copied 16 bytes at a time.
#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerCta = 16;  // a block's rows are split over gridDim.y CTAs

__global__ void __launch_bounds__(kThreads)
    sm90_gather_sorted_rows(const uint4* x, int row_chunks, int top_k, const int32_t* num_blocks,
                            const BlockInfo* blocks, const int32_t* sorted_slots, uint4* out) {
  // The block table and the slot list come from the routing kernel.
  WaitForPredecessor();
  AllowSuccessor();
  if (static_cast<int>(blockIdx.x) >= *num_blocks) return;
  const int end = blocks[blockIdx.x].end;
  for (int pos = blocks[blockIdx.x].begin + blockIdx.y; pos < end; pos += gridDim.y) {
    const uint4* src = x + static_cast<int64_t>(sorted_slots[pos] / top_k) * row_chunks;
    uint4* dst = out + static_cast<int64_t>(pos) * row_chunks;
    for (int i = threadIdx.x; i < row_chunks; i += kThreads) dst[i] = src[i];
  }
}

}  // namespace

std::string LaunchGatherSortedRows(const MoeProblem& problem, const MoePlan& plan, const void* x,
                                   const MoeWorkspaceView& ws, void* out, void* stream) {
  if (problem.hidden % 8 != 0) return "sm90_gather_sorted_rows: hidden must be a multiple of 8";
  if (plan.max_blocks == 0) return "";
  const dim3 grid(static_cast<unsigned>(plan.max_blocks), plan.block_m / kRowsPerCta);
  return Launch("sm90_gather_sorted_rows", sm90_gather_sorted_rows, grid, dim3(kThreads), 0, stream,
                plan.programmatic_launch, static_cast<const uint4*>(x),
                static_cast<int>(problem.hidden / 8), problem.top_k, ws.num_blocks, ws.blocks,
                ws.sorted_slots, static_cast<uint4*>(out));
}

}  // namespace sy::kernels
