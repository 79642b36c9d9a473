// Scheduler plugins: building one step's decision under a token budget and the KV-block pool.
// Header-only, part of the SDK, so in-tree and vendor schedulers share the block arithmetic
// and the preemption rule (vLLM's: when a running sequence needs blocks that are not free,
// preempt the most recently admitted running sequences not already in the step; they wait
// and recompute later, so the oldest requests keep making progress).
//
//   void Schedule(const sy_sched_state& state, sy_sched_decision& out) override {
//     sy::StepPlanner step(state, out, max_batch_tokens_, max_num_seqs_);
//     for (int64_t i : step.running()) step.AddRunning(i, std::min(pending, step.budget()));
//     for (int64_t i : step.waiting()) if (!step.AddWaiting(i, ...)) break;
//   }
#ifndef SWITCHYARD_SCHEDULER_SUPPORT_HPP_
#define SWITCHYARD_SCHEDULER_SUPPORT_HPP_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "switchyard/plugin_abi.h"

namespace sy {

// New blocks running `tokens` more of `s` takes, beyond the blocks it holds.
inline int64_t BlocksToRun(const sy_sched_sequence& s, int64_t tokens, int32_t block_size) {
  const int64_t needed = (s.cached + tokens + block_size - 1) / block_size;
  return std::max<int64_t>(0, needed - s.blocks_held);
}

class StepPlanner {
 public:
  StepPlanner(const sy_sched_state& state, sy_sched_decision& out, int64_t max_tokens,
              int64_t max_sequences)
      : state_(state),
        out_(out),
        budget_(max_tokens),
        max_sequences_(max_sequences),
        free_(state.free_blocks),
        taken_(static_cast<size_t>(state.num_sequences), 0) {
    out_.num_scheduled = 0;
    out_.num_preempted = 0;
    for (int64_t i = 0; i < state.num_sequences; ++i) {
      (state.sequences[i].running ? running_ : waiting_).push_back(i);
    }
  }

  // Running sequences in admission order, waiting ones in arrival order (the host's order).
  const std::vector<int64_t>& running() const { return running_; }
  const std::vector<int64_t>& waiting() const { return waiting_; }
  const sy_sched_sequence& sequence(int64_t i) const { return state_.sequences[i]; }
  int64_t budget() const { return budget_; }
  bool empty() const { return out_.num_scheduled == 0; }
  bool full() const { return out_.num_scheduled >= max_sequences_ || budget_ <= 0; }
  bool preempted_any() const { return out_.num_preempted > 0; }
  bool taken(int64_t i) const { return taken_[i] != 0; }

  // Schedules `tokens` of running sequence i, preempting newer running sequences for blocks
  // when needed; when even that cannot make room, preempts i itself. True if scheduled.
  bool AddRunning(int64_t i, int64_t tokens) {
    if (taken(i) || tokens < 1 || full()) return false;
    const int64_t need = BlocksToRun(sequence(i), tokens, state_.block_size);
    int64_t reclaimable = free_;
    for (int64_t r : running_) {
      if (r != i && !taken(r)) reclaimable += sequence(r).blocks_held;
    }
    if (need > reclaimable) {  // preempting others would not be enough: i yields instead
      Preempt(i);
      return false;
    }
    for (auto it = running_.rbegin(); need > free_ && it != running_.rend(); ++it) {
      if (*it != i && !taken(*it)) Preempt(*it);
    }
    Take(i, tokens, need);
    return true;
  }

  // Admits `tokens` of waiting sequence i if its blocks are free (waiting sequences never
  // preempt). True if scheduled.
  bool AddWaiting(int64_t i, int64_t tokens) {
    if (taken(i) || tokens < 1 || full()) return false;
    const int64_t need = BlocksToRun(sequence(i), tokens, state_.block_size);
    if (need > free_) return false;
    Take(i, tokens, need);
    return true;
  }

 private:
  void Take(int64_t i, int64_t tokens, int64_t blocks) {
    taken_[i] = 1;
    out_.scheduled[out_.num_scheduled++] = {i, static_cast<int32_t>(tokens)};
    budget_ -= tokens;
    free_ -= blocks;
  }
  void Preempt(int64_t i) {
    taken_[i] = 1;
    out_.preempted[out_.num_preempted++] = i;
    free_ += sequence(i).blocks_held;
  }

  const sy_sched_state& state_;
  sy_sched_decision& out_;
  int64_t budget_;
  int64_t max_sequences_;
  int64_t free_;
  std::vector<char> taken_;
  std::vector<int64_t> running_, waiting_;
};

}  // namespace sy

#endif  // SWITCHYARD_SCHEDULER_SUPPORT_HPP_
