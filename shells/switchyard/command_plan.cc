// switchyard plan MODEL [target options]: the GPU memory a model needs, the fewest GPUs per
// weight precision, and the expert placement. The numbers come from core/planning; this file
// reads the options and lays the plan out as tables or JSON.
#include <cstdio>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/planning/minimum_gpus.h"
#include "core/planning/model_presets.h"
#include "core/planning/plan_json.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/plan_tables.h"

namespace sy::cli {
namespace {

using planning::MemoryPlan;
using planning::PlanTarget;

std::vector<OptionSpec> Options() {
  return {
      {"gpu", true},         {"gpu-memory", true},       {"gpus", true},     {"ep", true},
      {"precision", true},   {"quantize", true},         {"kv-dtype", true}, {"context", true},
      {"concurrency", true}, {"max-batch-tokens", true}, {"reserve", true},  {"redundant", true},
      {"json", false}};
}

// "--name GB" as bytes, or `fallback` bytes when absent.
absl::StatusOr<int64_t> GbOption(const ParsedArgs& args, const std::string& name, int64_t fallback,
                                 bool allow_zero) {
  if (!args.Has(name)) return fallback;
  double gb = 0;
  if (!absl::SimpleAtod(args.Get(name), &gb) || gb < 0 || (gb == 0 && !allow_zero) || gb > 1e6) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected a size in GB, got '", args.Get(name), "'"));
  }
  return static_cast<int64_t>(gb * 1e9);
}

// Prefixes the option's name to a parse error of its value.
template <typename T>
absl::StatusOr<T> Named(const char* option, absl::StatusOr<T> value) {
  if (value.ok()) return value;
  return absl::InvalidArgumentError(absl::StrCat("--", option, ": ", value.status().message()));
}

// --gpu names a preset; with --gpu-memory it may name any GPU.
absl::StatusOr<planning::GpuSpec> ReadGpu(const ParsedArgs& args) {
  const std::string name = args.Get("gpu", "h200");
  auto preset = planning::FindGpuPreset(name);
  if (preset.ok()) return preset;
  if (args.Has("gpu-memory")) return planning::GpuSpec{name, name, 0};
  return absl::InvalidArgumentError(absl::StrCat("--gpu: ", preset.status().message(),
                                                 "; for another GPU, give its memory with "
                                                 "--gpu-memory"));
}

absl::StatusOr<PlanTarget> ReadTarget(const ParsedArgs& args, const planning::ModelShape& model) {
  PlanTarget t;
  SY_ASSIGN_OR_RETURN(t.gpu, ReadGpu(args));
  SY_ASSIGN_OR_RETURN(t.gpu.memory_bytes,
                      GbOption(args, "gpu-memory", t.gpu.memory_bytes, /*allow_zero=*/false));
  SY_ASSIGN_OR_RETURN(t.gpus, args.GetInt("gpus", 8, 1));
  SY_ASSIGN_OR_RETURN(t.ep, args.GetInt("ep", t.gpus, 1));
  t.precision = model.checkpoint_precision;
  t.scope = model.checkpoint_scope;
  if (args.Has("precision")) {
    SY_ASSIGN_OR_RETURN(t.precision,
                        Named("precision", planning::ParseWeightPrecision(args.Get("precision"))));
  }
  if (args.Has("quantize")) {
    SY_ASSIGN_OR_RETURN(t.scope,
                        Named("quantize", planning::ParseQuantScope(args.Get("quantize"))));
  }
  SY_ASSIGN_OR_RETURN(t.kv_dtype,
                      Named("kv-dtype", planning::ParseKvCacheDtype(args.Get("kv-dtype", "bf16"))));
  if (!args.Has("context") && model.max_position_embeddings == 0) {
    return absl::InvalidArgumentError(
        "--context is required: the config gives no max_position_embeddings");
  }
  SY_ASSIGN_OR_RETURN(t.context, args.GetInt("context", model.max_position_embeddings, 1));
  SY_ASSIGN_OR_RETURN(t.concurrency, args.GetInt("concurrency", 1, 1));
  SY_ASSIGN_OR_RETURN(t.max_batch_tokens, args.GetInt("max-batch-tokens", 8192, 1));
  SY_ASSIGN_OR_RETURN(t.reserve_bytes,
                      GbOption(args, "reserve", t.reserve_bytes, /*allow_zero=*/true));
  SY_ASSIGN_OR_RETURN(t.redundant, args.GetInt("redundant", 0, 0));
  return t;
}

std::string WithCommas(int64_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Billions(int64_t n) { return absl::StrFormat("%.2f B", n / 1e9); }

std::string PartsTable(const MemoryPlan& p) {
  const std::string bytes_header =
      absl::StrCat("GB (", planning::WeightPrecisionName(p.target.precision), ")");
  NumericTable table({"PART", "PARAMETERS", bytes_header, "PLACEMENT"}, {1, 2});
  for (int i = 0; i < planning::kWeightPartCount; ++i) {
    const auto part = static_cast<planning::WeightPart>(i);
    if (p.parameters[part] == 0) continue;
    const bool routed = part == planning::WeightPart::kRoutedExperts;
    table.AddRow({planning::WeightPartName(part), WithCommas(p.parameters[part]),
                  planning::FormatGb(p.bytes_by_part[i]),
                  routed ? absl::StrCat("sharded over EP ", p.target.ep) : "replicated"});
  }
  table.AddRow({"total", WithCommas(p.parameters.total), planning::FormatGb(p.model_bytes),
                absl::StrCat(Billions(p.parameters.total), ", ", Billions(p.parameters.active),
                             " active per token")});
  return table.Render();
}

std::string MinimumGpusTable(const MemoryPlan& p,
                             const std::vector<planning::GpuCountForPrecision>& counts) {
  std::string out = absl::StrCat("fewest GPUs (", p.target.gpu.display, ", ",
                                 planning::FormatGb(p.target.gpu.memory_bytes), " GB; EP = GPUs; ",
                                 p.target.concurrency, " x ", p.target.context, " tokens)\n");
  NumericTable table({"PRECISION", "WEIGHTS GB", "GPUS", "PER GPU GB"}, {1, 2, 3});
  for (const auto& c : counts) {
    table.AddRow({planning::WeightPrecisionName(c.precision), planning::FormatGb(c.model_bytes),
                  c.gpus ? absl::StrCat(*c.gpus) : "none", planning::FormatGb(c.per_gpu_total)});
  }
  return out + table.Render();
}

std::string PlacementTable(const MemoryPlan& p) {
  std::string out = absl::StrCat("expert placement (EP ", p.target.ep,
                                 ": contiguous ranges, the same in every MoE layer");
  if (p.target.gpus > p.target.ep) {
    absl::StrAppend(&out, " and in each of the ", p.target.gpus / p.target.ep, " EP groups");
  }
  if (p.target.redundant > 0) {
    absl::StrAppend(&out, "; ", p.target.redundant, " replicas dealt round-robin");
  }
  absl::StrAppend(&out, ")\n");
  NumericTable table({"RANK", "EXPERTS", "REPLICAS", "SLOTS"}, {0, 3});
  for (size_t r = 0; r < p.placement.ranks.size(); ++r) {
    const planning::RankExperts& rank = p.placement.ranks[r];
    std::string replicas;
    for (int64_t e : rank.replicas) absl::StrAppend(&replicas, replicas.empty() ? "" : ",", e);
    table.AddRow({absl::StrCat(r), planning::ExpertRangeText(rank.first_home, rank.home_count),
                  replicas, absl::StrCat(rank.Slots())});
  }
  return out + table.Render();
}

int Fail(absl::string_view message) {
  std::fprintf(stderr, "switchyard plan: %.*s\n", static_cast<int>(message.size()), message.data());
  return 1;
}

}  // namespace

int PlanCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv, Options(), /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("plan", args.status().message());
  if (args->Has("help")) return PrintUsage("plan");
  if (args->positional.size() != 1) {
    return UsageError("plan", "name one model: a config.json, a model folder or a preset");
  }
  auto model = planning::ResolveModel(args->positional[0]);
  if (!model.ok()) {
    // An unknown name is a usage mistake; a config that cannot be read is a failure.
    if (absl::IsNotFound(model.status()) && !std::filesystem::exists(args->positional[0]))
      return UsageError("plan", model.status().message());
    return Fail(model.status().message());
  }
  auto target = ReadTarget(*args, *model);
  if (!target.ok()) return UsageError("plan", target.status().message());
  auto plan = planning::BuildMemoryPlan(*model, *target);
  if (!plan.ok()) return UsageError("plan", plan.status().message());
  auto counts = planning::MinimumGpuCounts(*model, *target);
  if (!counts.ok()) return Fail(counts.status().message());
  if (args->Has("json")) {
    std::printf("%s\n", planning::PlanToJson(*plan, *counts).dump(2).c_str());
    return 0;
  }
  std::printf("%s%s\n%s\n%s\n%s", PlanHeader(*plan).c_str(), PartsTable(*plan).c_str(),
              PlanMemoryTable(*plan).c_str(), MinimumGpusTable(*plan, *counts).c_str(),
              PlacementTable(*plan).c_str());
  if (!plan->Fits())
    std::printf("\n%s\n", std::string(planning::CheckPlanFits(*plan).message()).c_str());
  return 0;
}

}  // namespace sy::cli
