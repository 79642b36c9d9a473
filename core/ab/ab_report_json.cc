#include "core/ab/ab_report_json.h"

#include <nlohmann/json.hpp>

#include "core/ab/ab_stats.h"

namespace sy::ab {
namespace {

nlohmann::json SideJson(const Side& side) {
  const SideRun& run = side.run;
  nlohmann::json step_ms = nlohmann::json::array();
  for (double s : run.step_seconds) step_ms.push_back(1e3 * s);
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < run.layer_loads.size(); ++i) {
    const ExpertLoad& load = run.layer_loads[i];
    layers.push_back({{"moe_layer", i},
                      {"tokens", load.tokens},
                      {"tokens_per_expert", load.tokens_per_expert},
                      {"max_over_mean", load.max_over_mean},
                      {"cv", load.coefficient_of_variation},
                      {"hot_experts", HotExperts(load.tokens_per_expert, 2)},
                      {"dropped", load.dropped},
                      {"rerouted", load.rerouted}});
  }
  return {{"spec", side.spec},
          {"perplexity",
           {{"perplexity", run.perplexity.perplexity},
            {"mean_nll", run.perplexity.mean_nll},
            {"scored_tokens", run.perplexity.scored_tokens}}},
          {"speed",
           {{"decode_steps", side.speed.steps},
            {"tokens_per_second", side.speed.tokens_per_second},
            {"p50_ms", side.speed.p50_ms},
            {"p90_ms", side.speed.p90_ms},
            {"p99_ms", side.speed.p99_ms},
            {"step_ms", step_ms}}},
          {"continuations", run.continuations},
          {"load", layers}};
}

}  // namespace

std::string ReportJson(const Report& report) {
  const Quality& q = report.quality;
  const nlohmann::json json = {{"model", report.model},
                               {"prompts", q.prompts},
                               {"prompt_tokens", report.prompt_tokens},
                               {"max_tokens", report.options.max_tokens},
                               {"heldout", report.heldout.empty() ? nlohmann::json(nullptr)
                                                                  : nlohmann::json(report.heldout)},
                               {"quality",
                                {{"positions", q.positions},
                                 {"mean_kl", q.mean_kl},
                                 {"max_kl", q.max_kl},
                                 {"top1_agreement", q.top1_agreement},
                                 {"greedy_identical", q.greedy_identical},
                                 {"greedy_agreement", q.greedy_agreement()},
                                 {"mean_matching_prefix", q.mean_matching_prefix},
                                 {"mean_continuation", q.mean_continuation}}},
                               {"sides", {{"A", SideJson(report.a)}, {"B", SideJson(report.b)}}}};
  return json.dump(2) + "\n";
}

}  // namespace sy::ab
