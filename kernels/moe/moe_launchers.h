// The per-strategy launchers behind LaunchGateUp/LaunchDown (moe_layer.cc dispatches on the
// plan's path). Internal to kernels/moe.
#ifndef SWITCHYARD_KERNELS_MOE_MOE_LAUNCHERS_H_
#define SWITCHYARD_KERNELS_MOE_MOE_LAUNCHERS_H_

#include <cstdint>
#include <string>

#include "kernels/moe/moe_cuda.h"

namespace sy::kernels {

// sm90_grouped_gemm_bf16_swapab_splitk_decode.cu. gate_up: `b` is x [T, H] and the output
// ws.act; down: `b` is ws.act and the output `out` (f32 atomics, router weight applied).
std::string LaunchDecodeGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                             const void* b, const MoeWeightsView& weights,
                             const MoeWorkspaceView& ws, float* out, void* stream);

// The prefill GEMMs. gate_up: `a` is x, output ws.act; down: `a` is ws.act, output ws.rows_out
// (router weight applied). Three kernels; on sm_90 where WgmmaPrefillFits (I % 128 == 0,
// H % 256 == 0):
//   sm90_grouped_gemm_fp8_wgmma_ws_prefill.cu: fp8 weights where plan.fp8_activations (w8a8);
//   sm90_grouped_gemm_bf16_wgmma_ws_prefill.cu: bf16 weights, or fp8 ones (w8a16);
// else sm90_grouped_gemm_bf16_mma_multistage_prefill.cu (bf16 or fp8 weights, w8a16).
bool WgmmaPrefillFits(const MoeProblem& problem, const MoeWeightsView& weights);
// The shape and format half of WgmmaPrefillFits (moe_plan.cc; the other half is the device).
bool WgmmaPrefillShapeFits(const MoeProblem& problem, MoeWeightFormat format);
std::string LaunchWgmmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                   const void* a, const MoeWeightsView& weights,
                                   const MoeWorkspaceView& ws, void* stream);
// Quantizes `a` into the GEMM's A (W8a8OperandOf; gate_up through W8a8TokenRowsOf and
// LaunchGatherSortedFp8Rows), then the w8a8 GEMM.
std::string LaunchFp8WgmmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                      const void* a, const MoeWeightsView& weights,
                                      const MoeWorkspaceView& ws, void* stream);
// sm90_quantize_fp8_rows.cu: bf16 `in` [rows, cols] (cols % 128 == 0) into `out` (W8a8Operand,
// scales_ld >= rows), per row and 128 columns as reference::QuantizeFp8Rows128. Waits for its
// predecessor (PDL) before reading `in`.
std::string LaunchQuantizeFp8Rows(const void* in, int64_t rows, int64_t cols,
                                  const W8a8Operand& out, bool programmatic, void* stream);
// sm90_gather_sorted_rows.cu, for the positions of the plan's blocks (prefill plans: block_m %
// 16 == 0): row pos of `out` = x's row of the slot at sorted position pos. bf16: out [T * k, H].
// w8a8: the e4m3 rows and the scales of x quantized in token order (`tokens`, H % 128 == 0).
std::string LaunchGatherSortedRows(const MoeProblem& problem, const MoePlan& plan, const void* x,
                                   const MoeWorkspaceView& ws, void* out, void* stream);
std::string LaunchGatherSortedFp8Rows(const MoeProblem& problem, const MoePlan& plan,
                                      const W8a8Operand& tokens, const MoeWorkspaceView& ws,
                                      const W8a8Operand& out, void* stream);
std::string LaunchMmaPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                                 const void* a, const MoeWeightsView& weights,
                                 const MoeWorkspaceView& ws, void* stream);

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_MOE_LAUNCHERS_H_
