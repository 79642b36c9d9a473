// Load-balance statistics of one routing decision, and their Cap'n Proto form.
#ifndef SWITCHYARD_CORE_MOE_EXPERT_LOAD_H_
#define SWITCHYARD_CORE_MOE_EXPERT_LOAD_H_

#include <capnp/message.h>

#include <cstdint>
#include <vector>

#include "core/plugin_host/router.h"
#include "switchyard/telemetry.capnp.h"

namespace sy {

struct ExpertLoad {
  int64_t tokens = 0;
  int64_t top_k = 0;
  std::vector<int64_t> tokens_per_expert;  // routing slots per expert
  int64_t dropped = 0;                     // slots with id -1
  int64_t rerouted = 0;
  double max_over_mean = 0;
  double coefficient_of_variation = 0;
  double jain_index = 1;
};

// Counts a router's output over `num_experts` experts and derives the imbalance measures.
ExpertLoad MeasureLoad(const RouterOutput& routing, int num_experts);
// Adds one step's load into a running total (same experts) and recomputes the imbalance
// measures over the total, so they describe all the steps together.
void AccumulateLoad(const ExpertLoad& step, ExpertLoad& total);
// Fills a LayerLoad message.
void WriteLayerLoad(const ExpertLoad& load, uint32_t layer, double router_micros,
                    double experts_micros, schema::LayerLoad::Builder out);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_EXPERT_LOAD_H_
