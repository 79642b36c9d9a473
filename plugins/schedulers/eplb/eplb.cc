// scheduler.eplb: DeepSeek's expert-parallel load balancer as a placement scheduler. It keeps
// the per-expert load of the last windowSteps engine steps; every intervalSteps steps it runs
// the hierarchical or global policy (switchyard/expert_placement.hpp) on the window's load and
// moves a layer only when the new placement cuts that layer's max/mean rank load by at least
// minImbalanceGain, so a steady load does not churn weights between ranks; a layer that moves
// keeps every expert it can in the slot that already holds it (eplb::KeepInPlace).
//
// place() runs on the engine thread after a step: a step costs one add and one subtract per
// expert, a rebalance a few milliseconds even at DeepSeek-V3's shape (`switchyard bench eplb`).
// Moving the weights is the host's job, done between steps (core/plugin_host/placement.h).
#include <cstring>
#include <vector>

#include "eplb.capnp.h"
#include "switchyard/expert_placement.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

class EplbScheduler : public PlacementScheduler {
 public:
  using Config = EplbConfig;

  explicit EplbScheduler(Config::Reader config)
      : policy_(config.getPolicy()),
        num_groups_(static_cast<int32_t>(config.getNumGroups())),
        interval_(config.getIntervalSteps()),
        min_gain_(config.getMinImbalanceGain()),
        window_(config.getWindowSteps()) {}

  void Place(const sy_placement_state& state, sy_placement_decision& out) override {
    const size_t experts = static_cast<size_t>(state.num_experts);
    window_.Push(state.step_load, static_cast<size_t>(state.num_layers) * experts);
    out.changed = 0;
    if (++observed_ % interval_ != 0) return;
    const int32_t width = state.num_ranks * state.slots_per_rank;
    const int32_t groups = num_groups_ > 0 ? num_groups_ : state.num_nodes;
    const eplb::Policy policy = ChoosePolicy(state, groups);
    for (int32_t layer = 0; layer < state.num_layers; ++layer) {
      const auto first = window_.sum().begin() + layer * experts;
      const std::vector<double> load(first, first + experts);
      const int32_t* current = state.current + static_cast<size_t>(layer) * width;
      const std::vector<int32_t> now(current, current + width);
      const std::vector<int32_t> next = eplb::KeepInPlace(
          now, eplb::Rebalance(policy, load, width, groups, state.num_nodes, state.num_ranks),
          state.num_ranks, state.num_nodes);
      const double before = eplb::RankImbalance(load, now, state.num_ranks);
      const double after = eplb::RankImbalance(load, next, state.num_ranks);
      if (after <= before * (1.0 - min_gain_) && after < before) {
        std::memcpy(out.slots + static_cast<size_t>(layer) * width, next.data(),
                    next.size() * sizeof(int32_t));
        out.changed = 1;
      }
    }
  }

 private:
  eplb::Policy ChoosePolicy(const sy_placement_state& state, int32_t groups) const {
    switch (policy_) {
      case Config::Policy::HIERARCHICAL:
        return eplb::Policy::kHierarchical;  // Rebalance throws when the groups do not fit
      case Config::Policy::GLOBAL:
        return eplb::Policy::kGlobal;
      case Config::Policy::AUTO:
        break;
    }
    return eplb::AutoPolicy(state.num_experts, groups, state.num_nodes);
  }

  Config::Policy policy_;
  int32_t num_groups_;
  uint64_t interval_;
  double min_gain_;
  eplb::LoadWindow window_;
  uint64_t observed_ = 0;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("eplb", "1.0.0",
                 sy::PlacementSchedulerComponent<sy::plugins::EplbScheduler>(
                     "eplb",
                     "Expert-parallel load balancer: replicas of busy experts, "
                     "hierarchical or global packing over a sliding window"))
