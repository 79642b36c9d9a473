// Capacity-factor limiting (GShard, Switch Transformer): each expert takes at most
// C = ceil(factor * tokens * k / experts) routing slots per step. Slots are admitted by
// priority — every token's first choice before any second choice, earlier tokens first — and
// the overflow is dropped (id -1, weight 0) or rerouted to the best-scoring expert that still
// has room and is not already chosen by the token (keeping the slot's weight).
#ifndef SWITCHYARD_CORE_MOE_CAPACITY_H_
#define SWITCHYARD_CORE_MOE_CAPACITY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/plugin_host/router.h"

namespace sy {

struct CapacityLimit {
  double factor = 1.0;
  enum class Overflow { kDrop, kReroute } overflow = Overflow::kDrop;
};

struct CapacityOutcome {
  int64_t capacity = 0;
  int64_t dropped = 0;
  int64_t rerouted = 0;
};

// Applies `limit` to `routing` in place. `logits` [tokens, experts] rank the reroute targets.
absl::StatusOr<CapacityOutcome> ApplyCapacity(const CapacityLimit& limit, const Tensor& logits,
                                              RouterOutput& routing);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_CAPACITY_H_
