// The whole MoE layer as a sequence of launches on one stream (see moe_cuda.h).
#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/moe_launchers.h"

namespace sy::kernels {
namespace {

std::string LaunchPrefillGemm(bool gate_up, const MoeProblem& problem, const MoePlan& plan,
                              const void* a, const MoeWeightsView& weights,
                              const MoeWorkspaceView& ws, void* stream) {
  if (!WgmmaPrefillFits(problem, weights))
    return LaunchMmaPrefillGemm(gate_up, problem, plan, a, weights, ws, stream);
  return weights.format == MoeWeightFormat::kFp8Block128 && plan.fp8_activations
             ? LaunchFp8WgmmaPrefillGemm(gate_up, problem, plan, a, weights, ws, stream)
             : LaunchWgmmaPrefillGemm(gate_up, problem, plan, a, weights, ws, stream);
}

}  // namespace

std::string LaunchGateUp(const MoeProblem& problem, const MoePlan& plan, const void* x,
                         const MoeWeightsView& weights, const MoeWorkspaceView& ws, void* stream) {
  return plan.path == MoePath::kDecode
             ? LaunchDecodeGemm(true, problem, plan, x, weights, ws, nullptr, stream)
             : LaunchPrefillGemm(true, problem, plan, x, weights, ws, stream);
}

std::string LaunchDown(const MoeProblem& problem, const MoePlan& plan,
                       const MoeWeightsView& weights, const MoeWorkspaceView& ws, float* out,
                       void* stream) {
  return plan.path == MoePath::kDecode
             ? LaunchDecodeGemm(false, problem, plan, ws.act, weights, ws, out, stream)
             : LaunchPrefillGemm(false, problem, plan, ws.act, weights, ws, stream);
}

std::string LaunchMoeLayer(const MoeProblem& problem, const MoePlan& plan, const MoeLayerArgs& args,
                           void* stream) {
  if (problem.tokens == 0) return "";
  const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, args.workspace);
  // Decode adds into the output with atomics, so the routing kernel clears it first (unless
  // the caller accumulates); prefill's combine overwrites or adds.
  float* zero = plan.path == MoePath::kDecode && !args.accumulate ? args.out : nullptr;
  std::string err =
      LaunchRouteAlign(problem, plan, args.routing, ws, args.expert_counts, zero, stream);
  if (err.empty()) err = LaunchGateUp(problem, plan, args.x, args.weights, ws, stream);
  if (err.empty()) err = LaunchDown(problem, plan, args.weights, ws, args.out, stream);
  if (err.empty() && plan.path == MoePath::kPrefill)
    err = LaunchCombine(problem, plan, ws, args.out, args.accumulate, stream);
  if (err.empty() && args.weights.down_bias != nullptr)
    err = LaunchAddDownBias(problem, ws, args.weights.down_bias, args.out, stream);
  return err;
}

}  // namespace sy::kernels
