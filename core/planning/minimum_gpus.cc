#include "core/planning/minimum_gpus.h"

#include <algorithm>

#include "core/base/status.h"

namespace sy::planning {

absl::StatusOr<std::vector<GpuCountForPrecision>> MinimumGpuCounts(const ModelShape& model,
                                                                   const PlanTarget& target) {
  const int64_t most = std::max<int64_t>({1, model.num_experts, target.concurrency});
  std::vector<GpuCountForPrecision> counts;
  for (WeightPrecision precision : AllWeightPrecisions()) {
    GpuCountForPrecision c;
    c.precision = precision;
    for (int64_t gpus = 1; gpus <= most; ++gpus) {
      PlanTarget t = target;
      t.precision = precision;
      t.gpus = t.ep = gpus;
      t.redundant = 0;
      SY_ASSIGN_OR_RETURN(MemoryPlan plan, BuildMemoryPlan(model, t));
      c.model_bytes = plan.model_bytes;
      c.per_gpu_total = plan.total;
      if (plan.Fits()) {
        c.gpus = gpus;
        break;
      }
    }
    counts.push_back(c);
  }
  return counts;
}

}  // namespace sy::planning
