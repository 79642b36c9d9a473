// scheduler.fcfs: the classic iteration-level scheduler (vLLM before chunked prefill). A step
// is either a prefill step — whole prompts of waiting requests, admitted strictly in arrival
// order while they fit the token budget and the free blocks — or, when no waiting prompt can
// be admitted, a decode step of every running sequence. Prefill steps stall decodes; that is
// the baseline continuous batching with chunked prefill improves on.
#include "fcfs.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/scheduler_support.hpp"

namespace sy::plugins {
namespace {

class FcfsScheduler : public Scheduler {
 public:
  using Config = FcfsConfig;

  explicit FcfsScheduler(Config::Reader config)
      : max_tokens_(config.getMaxBatchTokens()), max_sequences_(config.getMaxNumSeqs()) {}

  void Schedule(const sy_sched_state& state, sy_sched_decision& out) override {
    StepPlanner step(state, out, max_tokens_, max_sequences_);
    for (int64_t i : step.waiting()) {
      const int64_t prompt = step.sequence(i).pending;
      // Whole prompts only; one larger than the whole budget runs alone rather than never.
      if (!step.empty() && prompt > step.budget()) break;
      if (!step.AddWaiting(i, prompt)) break;
    }
    if (!step.empty()) return;
    // Decode step. Every running sequence has pending 1 here: prefills are never split.
    StepPlanner decode(state, out, state.num_sequences, max_sequences_);
    for (int64_t i : decode.running()) decode.AddRunning(i, decode.sequence(i).pending);
  }

 private:
  int64_t max_tokens_;
  int64_t max_sequences_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("fcfs", "1.0.0",
                 sy::SchedulerComponent<sy::plugins::FcfsScheduler>(
                     "fcfs",
                     "First come, first served: whole prompts, prefill and decode steps apart"))
