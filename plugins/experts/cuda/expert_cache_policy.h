// Which experts of one MoE layer a GPU cache of `capacity` slots holds, and which one gives up
// its slot to a newcomer: the expert with the lowest observed load (tokens routed to it,
// decayed by half every `half_life` forwards), the least recently used among equals. Plain
// C++, no CUDA: experts.cuda's ExpertCache (expert_cache.h) moves the bytes.
//
// Why load and not recency alone: MoE routing is skewed and bursty. A hot expert that sat out
// one batch should not lose its slot to a cold one that a single token touched.
#ifndef SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_POLICY_H_
#define SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_POLICY_H_

#include <cstdint>
#include <span>
#include <vector>

namespace sy::plugins {

class ExpertCachePolicy {
 public:
  // capacity >= 1 slots for experts [0, experts).
  ExpertCachePolicy(int32_t capacity, int32_t experts, double half_life = 8.0);

  int32_t capacity() const { return static_cast<int32_t>(slot_expert_.size()); }
  // The slot holding `expert`, or -1.
  int32_t SlotOf(int32_t expert) const { return expert_slot_[expert]; }
  // The expert in `slot`, or -1.
  int32_t ExpertIn(int32_t slot) const { return slot_expert_[slot]; }

  // Decays every load, then adds one forward's tokens per expert ([experts]) and marks the
  // experts it used as the most recent.
  void Observe(std::span<const int64_t> tokens_per_expert);

  struct Admission {
    int32_t slot = -1;     // -1: every slot is pinned
    int32_t evicted = -1;  // the expert that held the slot, or -1
  };
  // A slot for `expert` (not cached): a free one, else the coldest expert's whose slot is not
  // pinned (pinned[slot] true: in use by the current forward).
  Admission Admit(int32_t expert, const std::vector<bool>& pinned);

  double load(int32_t expert) const { return load_[expert]; }

 private:
  std::vector<int32_t> slot_expert_, expert_slot_;
  std::vector<double> load_;
  std::vector<int64_t> last_use_;
  int64_t clock_ = 0;
  double decay_;
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_POLICY_H_
