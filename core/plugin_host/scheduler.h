// The host's view of a batch scheduler component: one call per engine step, the decision
// checked against the rules of plugin_abi.h before the engine acts on it.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_SCHEDULER_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_SCHEDULER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/plugin_host/component.h"

namespace sy {

struct BlockPool {
  int32_t free_blocks = 0;
  int32_t total_blocks = 0;
  int32_t block_size = 16;
};

struct ScheduleDecision {
  std::vector<sy_sched_entry> scheduled;
  std::vector<int64_t> preempted;
};

// Checks a decision: indices in range and unique, tokens in [1, pending], only running
// sequences preempted and none of them scheduled, and the blocks fit. `name` names the
// scheduler in the error.
absl::Status ValidateDecision(const std::vector<sy_sched_sequence>& sequences,
                              const BlockPool& pool, const ScheduleDecision& decision,
                              absl::string_view name);

class Scheduler {
 public:
  // Fails unless `component` is a scheduler.
  static absl::StatusOr<Scheduler> From(std::shared_ptr<Component> component);

  // `sequences`: running ones in admission order, then waiting ones in arrival order.
  absl::StatusOr<ScheduleDecision> Schedule(const std::vector<sy_sched_sequence>& sequences,
                                            const BlockPool& pool, uint64_t step) const;
  const Component& component() const { return *component_; }

 private:
  explicit Scheduler(std::shared_ptr<Component> component) : component_(std::move(component)) {}
  std::shared_ptr<Component> component_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_SCHEDULER_H_
