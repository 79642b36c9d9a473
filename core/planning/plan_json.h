// A memory plan as JSON: the numbers `switchyard plan` prints, in bytes and parameters, for
// scripts (`switchyard plan --json`) and, later, the server's refusal responses. Keys keep the
// order of the printed tables.
#ifndef SWITCHYARD_CORE_PLANNING_PLAN_JSON_H_
#define SWITCHYARD_CORE_PLANNING_PLAN_JSON_H_

#include <vector>

#include <nlohmann/json.hpp>

#include "core/planning/memory_plan.h"
#include "core/planning/minimum_gpus.h"

namespace sy::planning {

nlohmann::ordered_json PlanToJson(const MemoryPlan& plan,
                                  const std::vector<GpuCountForPrecision>& minimum_gpus);

}  // namespace sy::planning

#endif  // SWITCHYARD_CORE_PLANNING_PLAN_JSON_H_
