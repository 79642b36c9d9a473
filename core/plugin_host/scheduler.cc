#include "core/plugin_host/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"
#include "switchyard/scheduler_support.hpp"

namespace sy {

absl::Status ValidateDecision(const std::vector<sy_sched_sequence>& sequences,
                              const BlockPool& pool, const ScheduleDecision& decision,
                              absl::string_view name) {
  const int64_t n = static_cast<int64_t>(sequences.size());
  std::vector<char> seen(sequences.size(), 0);
  int64_t available = pool.free_blocks;
  for (int64_t index : decision.preempted) {
    if (index < 0 || index >= n || seen[index]) {
      return absl::InternalError(absl::StrCat(name, " preempted sequence index ", index,
                                              " (out of range or twice; ", n, " sequences)"));
    }
    if (!sequences[index].running) {
      return absl::InternalError(
          absl::StrCat(name, " preempted sequence ", sequences[index].id, ", which is waiting"));
    }
    seen[index] = 1;
    available += sequences[index].blocks_held;
  }
  int64_t needed = 0;
  for (const sy_sched_entry& e : decision.scheduled) {
    if (e.index < 0 || e.index >= n || seen[e.index]) {
      return absl::InternalError(
          absl::StrCat(name, " scheduled sequence index ", e.index,
                       " (out of range, twice, or preempted in the same step; ", n, " sequences)"));
    }
    seen[e.index] = 1;
    const sy_sched_sequence& s = sequences[e.index];
    if (e.tokens < 1 || e.tokens > s.pending) {
      return absl::InternalError(absl::StrCat(name, " scheduled ", e.tokens, " tokens of sequence ",
                                              s.id, ", which has ", s.pending, " pending"));
    }
    needed += BlocksToRun(s, e.tokens, pool.block_size);
  }
  if (needed > available) {
    return absl::InternalError(
        absl::StrCat(name, "'s step needs ", needed, " KV blocks; only ", available, " are free"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Scheduler> Scheduler::From(std::shared_ptr<Component> component) {
  if (component->kind() != SY_KIND_SCHEDULER) {
    return absl::InvalidArgumentError(absl::StrCat(component->full_name(), " is not a scheduler"));
  }
  if (static_cast<const sy_scheduler_vtable*>(component->vtable())->schedule == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        component->full_name(), " is a placement scheduler; the engine needs a batch scheduler"));
  }
  return Scheduler(std::move(component));
}

absl::StatusOr<ScheduleDecision> Scheduler::Schedule(
    const std::vector<sy_sched_sequence>& sequences, const BlockPool& pool, uint64_t step) const {
  const sy_sched_state state = {sizeof(sy_sched_state),
                                sequences.data(),
                                static_cast<int64_t>(sequences.size()),
                                pool.free_blocks,
                                pool.total_blocks,
                                pool.block_size,
                                step};
  ScheduleDecision decision;
  decision.scheduled.resize(sequences.size());
  decision.preempted.resize(sequences.size());
  sy_sched_decision out = {sizeof(sy_sched_decision), decision.scheduled.data(), 0,
                           decision.preempted.data(), 0};
  const auto* vtable = static_cast<const sy_scheduler_vtable*>(component_->vtable());
  SY_RETURN_IF_ERROR(TakePluginError(vtable->schedule(component_->instance(), &state, &out),
                                     absl::StrCat(component_->full_name(), ": schedule")));
  const int64_t capacity = static_cast<int64_t>(sequences.size());
  if (out.num_scheduled < 0 || out.num_scheduled > capacity || out.num_preempted < 0 ||
      out.num_preempted > capacity) {
    return absl::InternalError(
        absl::StrCat(component_->full_name(), " wrote entry counts outside the arrays"));
  }
  decision.scheduled.resize(out.num_scheduled);
  decision.preempted.resize(out.num_preempted);
  SY_RETURN_IF_ERROR(ValidateDecision(sequences, pool, decision, component_->full_name()));
  return decision;
}

}  // namespace sy
