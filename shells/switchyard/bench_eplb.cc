// switchyard bench eplb: how evenly a per-expert load falls on expert-parallel ranks with the
// experts sharded contiguously, and after DeepSeek's EPLB places replicas — per MoE layer, with
// the time the algorithm took. The load comes from a routing trace (--trace), from running a
// model over text (--text), or from a Zipf law at a named model's shape (the default).
// With --rebalance-interval (and --text): online, the model's windows as steps through the
// online rebalancer (core/moe/online_rebalancer.h), each step's imbalance under the placement
// in force then.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/model/perplexity.h"
#include "core/moe/expert_placement.h"
#include "core/moe/moe_layer.h"
#include "core/moe/online_rebalancer.h"
#include "core/moe/trace_load.h"
#include "core/planning/model_presets.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"
#include "shells/switchyard/text_table.h"
#include "switchyard/expert_placement.hpp"

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadSource {
  std::string description;
  std::vector<std::vector<double>> per_layer;  // [MoE layer][expert]
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard bench eplb: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Tokens * top-k routing slots per layer, spread over the experts as a Zipf law of exponent
// `skew` (expert ranks shuffled per layer), at a preset's (or config.json's) MoE shape.
absl::StatusOr<LoadSource> ZipfLoad(const std::string& model, double skew, int64_t tokens,
                                    uint32_t seed) {
  SY_ASSIGN_OR_RETURN(const planning::ModelShape shape, planning::ResolveModel(model));
  const int64_t layers = std::count(shape.moe_layer.begin(), shape.moe_layer.end(), true);
  if (shape.num_experts < 1 || layers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(model, " has no MoE layers"));
  }
  LoadSource source{absl::StrFormat("%s, Zipf s=%.2f, %d tokens x top-%d", shape.name, skew, tokens,
                                    shape.experts_per_token),
                    {}};
  std::mt19937 rng(seed);
  std::vector<double> weight(shape.num_experts);
  for (int64_t e = 0; e < shape.num_experts; ++e) weight[e] = 1.0 / std::pow(e + 1, skew);
  const double sum = std::accumulate(weight.begin(), weight.end(), 0.0);
  for (int64_t l = 0; l < layers; ++l) {
    std::shuffle(weight.begin(), weight.end(), rng);
    std::vector<double>& load = source.per_layer.emplace_back(shape.num_experts);
    for (int64_t e = 0; e < shape.num_experts; ++e) {
      load[e] = std::round(tokens * shape.experts_per_token * weight[e] / sum);
    }
  }
  return source;
}

absl::StatusOr<LoadSource> TraceSource(const std::string& path) {
  SY_ASSIGN_OR_RETURN(TraceLoad trace, ReadTraceLoad(path));
  return LoadSource{absl::StrCat(path, " (", trace.info.model, ", ", trace.records, " records)"),
                    std::move(trace.per_layer)};
}

// The model (--model, default the built-in one) run over the text's documents in windows of
// 256 tokens, as `switchyard perplexity` does; each MoE layer's total load.
absl::StatusOr<LoadSource> TextSource(const ParsedArgs& args, int64_t limit) {
  const auto registry = LoadPlugins(args);
  SY_ASSIGN_OR_RETURN(auto ctx, ExecContext::Create(Device::Cpu(), 0));
  SY_ASSIGN_OR_RETURN(auto model, LoadModelFromArgs(args, *registry, *ctx));
  std::ifstream in(args.Get("text"), std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(args.Get("text"), ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  SY_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, model->EncodeDocuments(text.str(), limit));
  SY_RETURN_IF_ERROR(Perplexity(*model->network, *ctx, ids, 256).status());
  LoadSource source{
      absl::StrCat(model->name, " over ", args.Get("text"), " (", ids.size(), " tokens)"), {}};
  for (const MoeLayer* layer : model->network->moe_layers()) {
    const auto& counts = layer->total_load().tokens_per_expert;
    source.per_layer.emplace_back(counts.begin(), counts.end());
  }
  return source;
}

// The model run over the text as TextSource runs it, one step per 256-token window: each
// step's tokens per expert, [layer * experts + expert], in the order the windows ran.
struct StepLoads {
  std::string description;
  int32_t layers = 0, experts = 0;
  std::vector<std::vector<double>> steps;
};

absl::StatusOr<StepLoads> TextSteps(const ParsedArgs& args, int64_t limit) {
  // The model loads in this one process; the rebalancing options are the bench's own.
  ParsedArgs model_args = args;
  for (const char* bench_only : {"rebalance-interval", "rebalance-window"}) {
    model_args.options.erase(bench_only);
  }
  const auto registry = LoadPlugins(model_args);
  SY_ASSIGN_OR_RETURN(auto ctx, ExecContext::Create(Device::Cpu(), 0));
  SY_ASSIGN_OR_RETURN(auto model, LoadModelFromArgs(model_args, *registry, *ctx));
  std::ifstream in(args.Get("text"), std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(args.Get("text"), ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  SY_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, model->EncodeDocuments(text.str(), limit));
  std::vector<MoeLayer*> layers = model->network->moe_layers();
  if (layers.empty())
    return absl::InvalidArgumentError(absl::StrCat(model->name, ": no MoE layers"));
  StepLoads loads{absl::StrCat(model->name, " over ", args.Get("text"), " (", ids.size(),
                               " tokens, 256 a step)"),
                  static_cast<int32_t>(layers.size()),
                  layers[0]->shape().experts,
                  {}};
  for (MoeLayer* layer : layers) layer->ResetTotalLoad();
  // Called after each window: that window's load is what the layers added since the last.
  const auto take_step = [&](int64_t, int64_t) {
    std::vector<double>& step = loads.steps.emplace_back();
    for (MoeLayer* layer : layers) {
      const auto& counts = layer->total_load().tokens_per_expert;
      step.insert(step.end(), counts.begin(), counts.end());
      layer->ResetTotalLoad();
    }
  };
  SY_RETURN_IF_ERROR(Perplexity(*model->network, *ctx, ids, 256, take_step).status());
  return loads;
}

// Mean over layers of one step's max/mean tokens per rank under `placement`, with its replicas
// (`balanced`) or with the experts sharded contiguously (`logical`).
double StepImbalance(const ExpertPlacement& placement, const std::vector<double>& step,
                     double RankImbalance::*which) {
  const PlacementShape& shape = placement.shape();
  double sum = 0;
  for (int32_t l = 0; l < shape.num_layers; ++l) {
    const auto first = step.begin() + static_cast<int64_t>(l) * shape.num_experts;
    sum += placement.Imbalance(l, std::vector<double>(first, first + shape.num_experts)).*which;
  }
  return sum / shape.num_layers;
}

// scheduler.eplb configured as the EP runtime configures it, plus the bench's policy.
absl::StatusOr<PlacementScheduler> EplbScheduler(const ParsedArgs& args, int64_t interval,
                                                 int64_t window, int64_t groups) {
  const auto registry = LoadPlugins(args, /*warn_skipped=*/false);
  SY_ASSIGN_OR_RETURN(RegisteredComponent found, registry->Find("scheduler.eplb"));
  const ConfigValue config{ConfigTable{{"window_steps", ConfigValue{window}},
                                       {"interval_steps", ConfigValue{interval}},
                                       {"policy", ConfigValue{args.Get("policy", "auto")}},
                                       {"num_groups", ConfigValue{groups}}}};
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component, Component::Create(found, config));
  return PlacementScheduler::From(std::move(component));
}

// Online: the steps through the rebalancer, each measured under the placement in force when it
// ran, beside contiguous sharding and the initial placement kept throughout.
int BenchOnline(const ParsedArgs& args, const PlacementShape& shape, const StepLoads& loads,
                int64_t interval, int64_t window, int64_t groups) {
  auto scheduler = EplbScheduler(args, interval, window, groups);
  if (!scheduler.ok()) return Fail(scheduler.status());
  OnlineRebalancer rebalancer(*std::move(scheduler),
                              {.window_steps = window, .interval_steps = interval});
  auto initial = ExpertPlacement::Initial(shape);
  if (!initial.ok()) return Fail(initial.status());
  auto in_force = std::make_shared<const ExpertPlacement>(*initial);
  std::printf("load       %s: %zu steps\n", loads.description.c_str(), loads.steps.size());
  std::printf(
      "placement  %d experts, %d ranks on %d node(s), %d slots per rank; rebalance every "
      "%lld steps over the last %lld\n\n",
      shape.num_experts, shape.num_ranks, shape.num_nodes, shape.slots_per_rank,
      static_cast<long long>(interval), static_cast<long long>(window));
  double contiguous = 0, kept = 0, online = 0;
  for (const std::vector<double>& step : loads.steps) {
    contiguous += StepImbalance(*initial, step, &RankImbalance::logical);
    kept += StepImbalance(*initial, step, &RankImbalance::balanced);
    online += StepImbalance(*in_force, step, &RankImbalance::balanced);
    auto next = rebalancer.ObserveStep(*in_force, step);
    if (!next.ok()) return Fail(next.status());
    if (rebalancer.last_report() && rebalancer.last_report()->step == rebalancer.steps()) {
      std::printf("%s\n", rebalancer.last_report()->Describe().c_str());
    }
    if (*next) in_force = *std::move(next);
  }
  const double n = static_cast<double>(loads.steps.size());
  std::printf(
      "\n%lld rebalance(s). Each step's max/mean tokens per rank (mean over layers, then "
      "steps):\n  contiguous, no replicas  %.3f\n  initial placement kept   %.3f\n"
      "  online rebalancing       %.3f\n",
      static_cast<long long>(rebalancer.rebalances()), contiguous / n, kept / n, online / n);
  return 0;
}

const char* PolicyName(eplb::Policy policy) {
  return policy == eplb::Policy::kHierarchical ? "hierarchical" : "global";
}

}  // namespace

// --rebalance-interval N [--rebalance-window W] --text FILE: BenchOnline's shape and steps.
int BenchEplbOnline(const ParsedArgs& args, int64_t ranks, int64_t nodes, int64_t redundant,
                    int64_t groups, int64_t limit) {
  if (!args.Has("rebalance-interval")) {
    return UsageError("bench", "--rebalance-window: only with --rebalance-interval N");
  }
  const absl::StatusOr<int64_t> interval = args.GetInt("rebalance-interval", 0, 1);
  if (!interval.ok()) return UsageError("bench", interval.status().message());
  const absl::StatusOr<int64_t> window = args.GetInt("rebalance-window", 1000, 1);
  if (!window.ok()) return UsageError("bench", window.status().message());
  if (!args.Has("text")) {
    return UsageError("bench",
                      "--rebalance-interval replays a model's steps: give --text FILE (and "
                      "--model DIR, default the built-in model)");
  }
  auto loads = TextSteps(args, limit);
  if (!loads.ok()) return Fail(loads.status());
  if ((loads->experts + redundant) % ranks != 0) {
    return UsageError("bench",
                      absl::StrCat(loads->experts, " experts + ", redundant,
                                   " redundant slots do not split over ", ranks, " ranks"));
  }
  const PlacementShape shape = {loads->layers, loads->experts, static_cast<int32_t>(ranks),
                                static_cast<int32_t>(nodes),
                                static_cast<int32_t>((loads->experts + redundant) / ranks)};
  if (absl::Status s = ValidateShape(shape); !s.ok()) return Fail(s);
  return BenchOnline(args, shape, *loads, *interval, *window, groups);
}

int BenchEplb(const ParsedArgs& args) {
  const absl::StatusOr<int64_t> ranks = args.GetInt("ranks", 8, 1);
  if (!ranks.ok()) return UsageError("bench", ranks.status().message());
  const absl::StatusOr<int64_t> nodes = args.GetInt("nodes", 1, 1);
  if (!nodes.ok()) return UsageError("bench", nodes.status().message());
  if (*ranks % *nodes != 0) {
    return UsageError("bench", absl::StrCat("--nodes: expected an integer that divides --ranks (",
                                            *ranks, "), got '", args.Get("nodes"), "'"));
  }
  const absl::StatusOr<int64_t> redundant = args.GetInt("redundant", *ranks, 0);
  if (!redundant.ok()) return UsageError("bench", redundant.status().message());
  const absl::StatusOr<int64_t> groups = args.GetInt("groups", *nodes, 1);
  if (!groups.ok()) return UsageError("bench", groups.status().message());
  double skew = 1.0;
  if (!absl::SimpleAtod(args.Get("skew", "1.0"), &skew) || skew < 0)
    return UsageError("bench", "--skew: expected a number >= 0");
  const absl::StatusOr<int64_t> tokens = args.GetInt("tokens", 4096, 1);
  if (!tokens.ok()) return UsageError("bench", tokens.status().message());
  const absl::StatusOr<int64_t> limit = args.GetInt("text-tokens", 4096, 0);
  if (!limit.ok()) return UsageError("bench", limit.status().message());
  const absl::StatusOr<uint32_t> seed = args.GetInt<uint32_t>("seed", 0, 0);
  if (!seed.ok()) return UsageError("bench", seed.status().message());
  const std::string policy_text = args.Get("policy", "auto");
  if (policy_text != "auto" && policy_text != "hierarchical" && policy_text != "global")
    return UsageError("bench", "--policy: auto, hierarchical or global");
  if (args.Has("rebalance-interval") || args.Has("rebalance-window")) {
    return BenchEplbOnline(args, *ranks, *nodes, *redundant, *groups, *limit);
  }

  absl::StatusOr<LoadSource> source =
      args.Has("trace")  ? TraceSource(args.Get("trace"))
      : args.Has("text") ? TextSource(args, *limit)
                         : ZipfLoad(args.Get("shape", "deepseek-v3"), skew, *tokens, *seed);
  if (!source.ok()) return Fail(source.status());
  if (source->per_layer.empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(source->description, ": no MoE load")));
  }
  const int32_t experts = static_cast<int32_t>(source->per_layer[0].size());
  const int32_t layers = static_cast<int32_t>(source->per_layer.size());
  if ((experts + *redundant) % *ranks != 0) {
    return UsageError("bench",
                      absl::StrCat(experts, " experts + ", *redundant,
                                   " redundant slots do not split over ", *ranks, " ranks"));
  }
  const PlacementShape shape = {layers, experts, static_cast<int32_t>(*ranks),
                                static_cast<int32_t>(*nodes),
                                static_cast<int32_t>((experts + *redundant) / *ranks)};
  if (absl::Status s = ValidateShape(shape); !s.ok()) return Fail(s);
  const eplb::Policy policy = policy_text == "auto"     ? eplb::AutoPolicy(experts, *groups, *nodes)
                              : policy_text == "global" ? eplb::Policy::kGlobal
                                                        : eplb::Policy::kHierarchical;
  if (policy == eplb::Policy::kHierarchical && !eplb::HierarchicalFits(experts, *groups, *nodes)) {
    return UsageError("bench",
                      absl::StrCat("hierarchical: ", *groups, " groups must split the ", experts,
                                   " experts and be split by the ", *nodes, " nodes (--groups)"));
  }

  Placement balanced{shape, {}};
  std::vector<double> micros(layers);
  for (int32_t l = 0; l < layers; ++l) {
    const auto start = Clock::now();
    const std::vector<int32_t> slots = eplb::Rebalance(
        policy, source->per_layer[l], shape.slots_per_layer(), *groups, *nodes, *ranks);
    micros[l] = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    balanced.slots.insert(balanced.slots.end(), slots.begin(), slots.end());
  }
  auto placement = ExpertPlacement::Create(std::move(balanced));
  if (!placement.ok()) return Fail(placement.status());

  std::printf("load       %s\n", source->description.c_str());
  std::printf(
      "placement  %d experts, %lld ranks on %lld node(s), %lld redundant slots (%d per "
      "rank), %s policy%s\n\n",
      experts, static_cast<long long>(*ranks), static_cast<long long>(*nodes),
      static_cast<long long>(*redundant), shape.slots_per_rank, PolicyName(policy),
      policy == eplb::Policy::kHierarchical ? absl::StrCat(", ", *groups, " group(s)").c_str()
                                            : "");
  TextTable table({"layer", "routed", "max/mean before", "max/mean after", "gain", "time µs"});
  double before_sum = 0, after_sum = 0, before_max = 0, after_max = 0, total_micros = 0;
  for (int32_t l = 0; l < layers; ++l) {
    const RankImbalance r = placement->Imbalance(l, source->per_layer[l]);
    const double load =
        std::accumulate(source->per_layer[l].begin(), source->per_layer[l].end(), 0.0);
    table.AddRow({absl::StrCat(l), absl::StrFormat("%.0f", load),
                  absl::StrFormat("%.3f", r.logical), absl::StrFormat("%.3f", r.balanced),
                  absl::StrFormat("%.2fx", r.logical / r.balanced),
                  absl::StrFormat("%.1f", micros[l])});
    before_sum += r.logical;
    after_sum += r.balanced;
    before_max = std::max(before_max, r.logical);
    after_max = std::max(after_max, r.balanced);
    total_micros += micros[l];
  }
  table.AddRow({"mean", "", absl::StrFormat("%.3f", before_sum / layers),
                absl::StrFormat("%.3f", after_sum / layers),
                absl::StrFormat("%.2fx", before_sum / after_sum),
                absl::StrFormat("%.1f", total_micros / layers)});
  table.AddRow({"worst", "", absl::StrFormat("%.3f", before_max),
                absl::StrFormat("%.3f", after_max), "", ""});
  std::printf("%s", table.Render().c_str());
  std::printf(
      "\nbefore: experts sharded contiguously, no replicas; after: EPLB's placement, each\n"
      "expert's tokens split evenly over its replicas; routed: routing slots (tokens x k).\n"
      "Placed %d layer(s) in %.2f ms.\n",
      layers, total_micros / 1000);
  return 0;
}

}  // namespace sy::cli
