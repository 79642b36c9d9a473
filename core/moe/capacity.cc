#include "core/moe/capacity.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sy {
namespace {

// The highest-logit expert of `token` with room left and not yet chosen by it; -1 if none.
int32_t RerouteTarget(const Tensor& logits, int64_t token, const std::vector<int64_t>& used,
                      int64_t capacity, const int32_t* token_ids, int64_t k) {
  const int64_t experts = logits.dim(1);
  int32_t best = -1;
  double best_logit = 0;
  for (int64_t e = 0; e < experts; ++e) {
    if (used[e] >= capacity) continue;
    bool taken = false;
    for (int64_t j = 0; j < k; ++j) taken |= token_ids[j] == e;
    if (taken) continue;
    const double logit = logits.Get(token * experts + e);
    if (best < 0 || logit > best_logit) {
      best = static_cast<int32_t>(e);
      best_logit = logit;
    }
  }
  return best;
}

}  // namespace

absl::StatusOr<CapacityOutcome> ApplyCapacity(const CapacityLimit& limit, const Tensor& logits,
                                              RouterOutput& routing) {
  if (!(limit.factor > 0) || !std::isfinite(limit.factor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity factor must be positive, got ", limit.factor));
  }
  const int64_t tokens = routing.expert_ids.dim(0), k = routing.expert_ids.dim(1);
  const int64_t experts = logits.dim(1);
  CapacityOutcome outcome;
  outcome.capacity = static_cast<int64_t>(
      std::ceil(limit.factor * static_cast<double>(tokens * k) / static_cast<double>(experts)));
  std::vector<int64_t> used(experts, 0);
  int32_t* ids = routing.expert_ids.data<int32_t>();
  float* weights = routing.expert_weights.data<float>();
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t t = 0; t < tokens; ++t) {
      const int64_t slot = t * k + j;
      if (ids[slot] < 0) continue;
      if (used[ids[slot]] < outcome.capacity) {
        ++used[ids[slot]];
        continue;
      }
      const int32_t target = limit.overflow == CapacityLimit::Overflow::kReroute
                                 ? RerouteTarget(logits, t, used, outcome.capacity, ids + t * k, k)
                                 : -1;
      if (target >= 0) {
        ids[slot] = target;
        ++used[target];
        ++outcome.rerouted;
      } else {
        ids[slot] = -1;
        weights[slot] = 0.0f;
        ++outcome.dropped;
      }
    }
  }
  return outcome;
}

}  // namespace sy
