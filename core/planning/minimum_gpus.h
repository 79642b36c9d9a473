// The fewest GPUs that fit a model at each weight precision, all else as in the target. The
// search sets EP to the GPU count and leaves out redundant replicas; any count works, not only
// powers of two, so round up to what your nodes hold.
#ifndef SWITCHYARD_CORE_PLANNING_MINIMUM_GPUS_H_
#define SWITCHYARD_CORE_PLANNING_MINIMUM_GPUS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/planning/memory_plan.h"

namespace sy::planning {

struct GpuCountForPrecision {
  WeightPrecision precision = WeightPrecision::kBf16;
  int64_t model_bytes = 0;      // one copy of every weight
  std::optional<int64_t> gpus;  // none when no count fits: the replicated part alone is too big
  int64_t per_gpu_total = 0;    // at `gpus`, or at the largest count tried
};

// One entry per precision of AllWeightPrecisions(). Counts beyond max(experts, concurrency)
// shrink nothing further (one expert and one sequence per GPU), so the search stops there.
absl::StatusOr<std::vector<GpuCountForPrecision>> MinimumGpuCounts(const ModelShape& model,
                                                                   const PlanTarget& target);

}  // namespace sy::planning

#endif  // SWITCHYARD_CORE_PLANNING_MINIMUM_GPUS_H_
