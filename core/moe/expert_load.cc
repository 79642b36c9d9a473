#include "core/moe/expert_load.h"

#include <algorithm>
#include <cmath>

namespace sy {

namespace {

// max/mean, coefficient of variation and Jain's index of tokens_per_expert.
void ComputeImbalance(ExpertLoad& load) {
  const double experts = static_cast<double>(load.tokens_per_expert.size());
  double sum = 0, sum_sq = 0, max = 0;
  for (int64_t c : load.tokens_per_expert) {
    sum += static_cast<double>(c);
    sum_sq += static_cast<double>(c) * static_cast<double>(c);
    max = std::max(max, static_cast<double>(c));
  }
  const double mean = experts > 0 ? sum / experts : 0;
  if (mean > 0) {
    const double variance = std::max(sum_sq / experts - mean * mean, 0.0);
    load.max_over_mean = max / mean;
    load.coefficient_of_variation = std::sqrt(variance) / mean;
    load.jain_index = sum * sum / (experts * sum_sq);
  }
}

}  // namespace

ExpertLoad MeasureLoad(const RouterOutput& routing, int num_experts) {
  ExpertLoad load;
  load.tokens = routing.expert_ids.dim(0);
  load.top_k = routing.expert_ids.dim(1);
  load.tokens_per_expert.assign(num_experts, 0);
  const int32_t* ids = routing.expert_ids.data<int32_t>();
  for (int64_t s = 0; s < routing.expert_ids.numel(); ++s) {
    if (ids[s] < 0) {
      ++load.dropped;
    } else if (ids[s] < num_experts) {
      ++load.tokens_per_expert[ids[s]];
    }
  }
  ComputeImbalance(load);
  return load;
}

void AccumulateLoad(const ExpertLoad& step, ExpertLoad& total) {
  total.tokens += step.tokens;
  total.top_k = step.top_k;
  total.tokens_per_expert.resize(step.tokens_per_expert.size(), 0);
  for (size_t e = 0; e < step.tokens_per_expert.size(); ++e)
    total.tokens_per_expert[e] += step.tokens_per_expert[e];
  total.dropped += step.dropped;
  total.rerouted += step.rerouted;
  ComputeImbalance(total);
}

void WriteLayerLoad(const ExpertLoad& load, uint32_t layer, double router_micros,
                    double experts_micros, schema::LayerLoad::Builder out) {
  out.setLayer(layer);
  out.setTokens(static_cast<uint32_t>(load.tokens));
  out.setTopK(static_cast<uint32_t>(load.top_k));
  auto counts = out.initTokensPerExpert(static_cast<unsigned>(load.tokens_per_expert.size()));
  for (size_t e = 0; e < load.tokens_per_expert.size(); ++e) {
    counts.set(static_cast<unsigned>(e), static_cast<uint32_t>(load.tokens_per_expert[e]));
  }
  out.setDropped(static_cast<uint32_t>(load.dropped));
  out.setRerouted(static_cast<uint32_t>(load.rerouted));
  out.setMaxOverMean(load.max_over_mean);
  out.setCoefficientOfVariation(load.coefficient_of_variation);
  out.setJainIndex(load.jain_index);
  out.setRouterMicros(router_micros);
  out.setExpertsMicros(experts_micros);
}

}  // namespace sy
