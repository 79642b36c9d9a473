// scheduler.continuous: continuous batching with chunked prefill (as vLLM's and SGLang's
// schedulers do). Each step spends a token budget: with decodeFirst priority, running
// sequences go first in admission order — a decode costs 1 token, an unfinished prefill its
// next chunk — then waiting requests are admitted in arrival order, their prompts cut to what
// is left of the budget. Nothing new is admitted in a step that had to preempt: the pool is
// short, and admitting would only preempt again. Without chunked prefill a prompt that does
// not fit the remaining budget waits (one that exceeds the whole budget runs alone).
#include <algorithm>

#include "continuous.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/scheduler_support.hpp"

namespace sy::plugins {
namespace {

class ContinuousScheduler : public Scheduler {
 public:
  using Config = ContinuousConfig;

  explicit ContinuousScheduler(Config::Reader config)
      : max_tokens_(config.getMaxBatchTokens()),
        max_sequences_(config.getMaxNumSeqs()),
        chunked_(config.getChunkedPrefill()),
        prefill_first_(config.getPriority() == Config::Priority::PREFILL_FIRST) {}

  void Schedule(const sy_sched_state& state, sy_sched_decision& out) override {
    StepPlanner step(state, out, max_tokens_, max_sequences_);
    if (prefill_first_) AdmitWaiting(step);
    for (int64_t i : step.running()) {
      if (step.full()) break;
      step.AddRunning(i, Chunk(step, step.sequence(i).pending));
    }
    if (!prefill_first_ && !step.preempted_any()) AdmitWaiting(step);
  }

 private:
  // Tokens of a `pending`-token computation that fit this step (0: none).
  int64_t Chunk(const StepPlanner& step, int64_t pending) const {
    if (pending <= step.budget()) return pending;
    if (chunked_) return step.budget();
    return step.empty() ? pending : 0;  // an oversized prompt runs alone
  }

  void AdmitWaiting(StepPlanner& step) {
    for (int64_t i : step.waiting()) {
      const int64_t tokens = Chunk(step, step.sequence(i).pending);
      if (step.full() || !step.AddWaiting(i, tokens)) break;  // first come, first served
    }
  }

  int64_t max_tokens_;
  int64_t max_sequences_;
  bool chunked_;
  bool prefill_first_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("continuous", "1.0.0",
                 sy::SchedulerComponent<sy::plugins::ContinuousScheduler>(
                     "continuous", "Continuous batching with chunked prefill under a token budget"))
