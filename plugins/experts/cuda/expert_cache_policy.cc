#include "expert_cache_policy.h"

#include <cmath>

namespace sy::plugins {

ExpertCachePolicy::ExpertCachePolicy(int32_t capacity, int32_t experts, double half_life)
    : slot_expert_(capacity, -1),
      expert_slot_(experts, -1),
      load_(experts, 0.0),
      last_use_(experts, -1),
      decay_(std::exp2(-1.0 / half_life)) {}

void ExpertCachePolicy::Observe(std::span<const int64_t> tokens_per_expert) {
  ++clock_;
  for (size_t e = 0; e < load_.size(); ++e) {
    load_[e] *= decay_;
    if (tokens_per_expert[e] > 0) {
      load_[e] += static_cast<double>(tokens_per_expert[e]);
      last_use_[e] = clock_;
    }
  }
}

ExpertCachePolicy::Admission ExpertCachePolicy::Admit(int32_t expert,
                                                      const std::vector<bool>& pinned) {
  Admission a;
  for (int32_t s = 0; s < capacity(); ++s) {
    if (pinned[s]) continue;
    const int32_t held = slot_expert_[s];
    if (held < 0) {  // a free slot beats any eviction
      a = {s, -1};
      break;
    }
    const bool colder = a.slot < 0 || load_[held] < load_[a.evicted] ||
                        (load_[held] == load_[a.evicted] && last_use_[held] < last_use_[a.evicted]);
    if (colder) a = {s, held};
  }
  if (a.slot < 0) return a;
  if (a.evicted >= 0) expert_slot_[a.evicted] = -1;
  slot_expert_[a.slot] = expert;
  expert_slot_[expert] = a.slot;
  return a;
}

}  // namespace sy::plugins
