// Online expert rebalancing (EPLB) under expert parallelism: every step's tokens per logical
// expert of every MoE layer, summed over the ranks, go to a placement scheduler
// (core/plugin_host/placement.h); when it returns a new placement, every rank switches to it at
// the same step boundary.
//
// - A step is one pass through the model's MoE layers. Every rank runs every MoE layer in the
//   same order each pass (a rank out of work passes with zero tokens, MoeModel::FinishSteps), so
//   RunExpertParallel hands each layer's routing to RecordLayer, and the last MoE layer of the
//   pass ends the step on every rank at once.
// - Ending a step: the rank's counts go through one all-reduce (Comm::AllReduceSum, which adds
//   in rank order), so every rank holds bit-identical loads; each rank's scheduler (a
//   deterministic plugin) then decides the same placement. The all-reduce also carries a
//   fingerprint of each rank's placement, so ranks that ever disagreed would fail the next step
//   by name instead of dispatching tokens to slots their peers do not hold.
// - Switching: the new placement replaces ExpertParallelism::placement right there, between
//   this step's last MoE layer and the next step's first. Each MoeLayer sees the new placement
//   at its next forward and re-shards its slots from the f32 weights of every expert it keeps
//   in host memory (MoeLayer::ShardExperts): a rank already has every expert it may be given,
//   so no weights move between ranks.
#ifndef SWITCHYARD_CORE_MOE_ONLINE_REBALANCER_H_
#define SWITCHYARD_CORE_MOE_ONLINE_REBALANCER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/moe/expert_parallel.h"
#include "core/plugin_host/placement.h"
#include "switchyard/expert_placement.hpp"

namespace sy {

// Both must match the scheduler's own windowSteps and intervalSteps (the host configures the
// component with them), so the host measures the window the scheduler decided on.
struct RebalanceOptions {
  int64_t window_steps = 1000;
  int64_t interval_steps = 3000;
};

// One MoE layer's max/mean tokens per rank over the window.
struct LayerRebalance {
  double logical = 1;  // experts sharded contiguously, no replicas
  double before = 1;   // the placement in force during the step
  double after = 1;    // the placement from the next step on (== before when it did not move)
};

struct RebalanceReport {
  uint64_t step = 0;           // measured after this many steps
  int64_t window_steps = 0;    // the steps the window holds
  int32_t layers_moved = 0;    // 0: the scheduler kept the placement
  int64_t slots_refilled = 0;  // slots, over all layers and ranks, that switching re-fills
  int64_t slots = 0;           // slots over all layers and ranks
  std::vector<LayerRebalance> layers;

  double MeanBefore() const;
  double MeanAfter() const;
  // "step 8: moved 3 of 4 MoE layers; max/mean tokens per rank over the last 8 steps 1.710 ->
  // 1.080 (mean over layers), worst layer 2 2.400 -> 1.200; re-filled 9 of 64 slots".
  std::string Describe() const;
};

class OnlineRebalancer {
 public:
  OnlineRebalancer(PlacementScheduler scheduler, RebalanceOptions options);

  // Collective, from RunExpertParallel after each MoE layer: this rank routed `expert_ids`
  // ([tokens, k], -1 dropped) in `moe_layer`. After the placement's last MoE layer it ends the
  // step (above) and may replace ep.placement.
  absl::Status RecordLayer(ExecContext& ctx, const ExpertParallelism& ep, int32_t moe_layer,
                           const Tensor& expert_ids);

  // One step's load summed over the ranks, [layers, experts]: the window, the scheduler, and
  // the placement to switch to (nullptr: keep `current`). Every rank calls it with the same
  // load. A scheduler error comes back as the status; the placement in force stays.
  absl::StatusOr<std::shared_ptr<const ExpertPlacement>> ObserveStep(
      const ExpertPlacement& current, const std::vector<double>& load);

  uint64_t steps() const { return steps_; }
  int64_t rebalances() const { return rebalances_; }  // steps that switched the placement
  // The latest measurement, taken every interval_steps steps and at every switch; nullopt
  // before the first. Read on the thread that runs the model.
  const std::optional<RebalanceReport>& last_report() const { return last_report_; }
  // The latest report that moved experts.
  const std::optional<RebalanceReport>& last_rebalance() const { return last_rebalance_; }

 private:
  RebalanceReport Measure(const ExpertPlacement& before, const ExpertPlacement& after) const;

  PlacementScheduler scheduler_;
  RebalanceOptions options_;
  eplb::LoadWindow window_;
  std::vector<int64_t> step_counts_;  // this rank's [layers, experts] of the step so far
  uint64_t steps_ = 0;
  int64_t rebalances_ = 0;
  std::optional<RebalanceReport> last_report_;
  std::optional<RebalanceReport> last_rebalance_;
};

// Tokens routed to each of `num_experts` experts, added into `counts` (-1 ids skipped).
void CountRoutedTokens(const Tensor& expert_ids, int32_t num_experts, int64_t* counts);
// A 31-bit hash of the placement's slots: equal placements, equal fingerprints.
int64_t PlacementFingerprint(const Placement& placement);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_ONLINE_REBALANCER_H_
