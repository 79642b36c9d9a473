// switchyard plan MODEL [target options]: the GPU memory a model needs, the fewest GPUs per
// weight precision, and the expert placement. The numbers come from core/planning; this file
// reads the options and lays the plan out as tables or JSON.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/planning/kv_cache.h"
#include "core/planning/minimum_gpus.h"
#include "core/planning/model_presets.h"
#include "core/planning/plan_json.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

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

// "--name N" as an integer of at least `min`, or `fallback` when absent.
absl::StatusOr<int64_t> IntOption(const ParsedArgs& args, const std::string& name, int64_t fallback,
                                  int64_t min = 1) {
  if (!args.Has(name)) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(args.Get(name), &value) || value < min) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected ",
                                                   min == 1 ? "a positive" : "a non-negative",
                                                   " integer, got '", args.Get(name), "'"));
  }
  return value;
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
  SY_ASSIGN_OR_RETURN(t.gpus, IntOption(args, "gpus", 8));
  SY_ASSIGN_OR_RETURN(t.ep, IntOption(args, "ep", t.gpus));
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
  SY_ASSIGN_OR_RETURN(t.context, IntOption(args, "context", model.max_position_embeddings));
  SY_ASSIGN_OR_RETURN(t.concurrency, IntOption(args, "concurrency", 1));
  SY_ASSIGN_OR_RETURN(t.max_batch_tokens, IntOption(args, "max-batch-tokens", 8192));
  SY_ASSIGN_OR_RETURN(t.reserve_bytes,
                      GbOption(args, "reserve", t.reserve_bytes, /*allow_zero=*/true));
  SY_ASSIGN_OR_RETURN(t.redundant, IntOption(args, "redundant", 0, /*min=*/0));
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

// A TextTable whose numeric columns are right-aligned.
class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<size_t> numeric)
      : headers_(std::move(headers)), numeric_(std::move(numeric)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string Render() {
    for (size_t column : numeric_) {
      size_t width = headers_[column].size();
      for (const auto& row : rows_) width = std::max(width, row[column].size());
      for (auto& row : rows_) row[column].insert(0, width - row[column].size(), ' ');
    }
    TextTable table(headers_);
    for (auto& row : rows_) table.AddRow(row);
    return table.Render();
  }

 private:
  std::vector<std::string> headers_;
  std::vector<size_t> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

std::string AttentionText(const planning::ModelShape& m) {
  if (m.mla) {
    return absl::StrCat("MLA attention, ", m.num_heads, " heads, KV latent ", m.mla->kv_lora_rank,
                        " + rope ", m.mla->qk_rope_head_dim);
  }
  std::string text = absl::StrCat("GQA attention, ", m.num_heads, " heads, ", m.num_kv_heads,
                                  " KV heads x ", m.head_dim);
  const int64_t sliding = std::count_if(m.attention_window.begin(), m.attention_window.end(),
                                        [](int64_t w) { return w > 0; });
  if (sliding > 0) {
    absl::StrAppend(&text, "; ", sliding, " sliding-window layers (",
                    *std::max_element(m.attention_window.begin(), m.attention_window.end()),
                    " tokens)");
  }
  return text;
}

std::string Header(const MemoryPlan& p) {
  const planning::ModelShape& m = p.model;
  const PlanTarget& t = p.target;
  std::string out =
      absl::StrCat("plan for ", m.name, " (", m.architecture, ", ", m.source, ")\n\n");
  absl::StrAppend(&out, "model     ", m.num_layers, " layers, ", m.MoeLayerCount(),
                  " with MoE: ", m.num_experts, " experts, top-", m.experts_per_token);
  if (m.shared_intermediate_size > 0) absl::StrAppend(&out, " + shared");
  absl::StrAppend(&out, "\n          ", AttentionText(m), "\n");
  if (m.mtp_layers > 0) {
    absl::StrAppend(
        &out, "          ", m.mtp_layers,
        " multi-token-prediction layer(s) not counted: the runtime does not load them\n");
  }
  absl::StrAppend(&out, "target    ", t.gpus, " x ", t.gpu.display, " (",
                  planning::FormatGb(t.gpu.memory_bytes), " GB), EP ", t.ep);
  if (t.gpus > t.ep)
    absl::StrAppend(&out, " (", t.gpus / t.ep, " groups, each a full set of experts)");
  absl::StrAppend(&out, "; weights ", planning::WeightPrecisionName(t.precision));
  if (t.precision != planning::WeightPrecision::kBf16) {
    absl::StrAppend(&out, t.scope == planning::QuantScope::kExperts
                              ? " (experts; the rest bf16)"
                              : " (all projections; the rest bf16)");
  }
  absl::StrAppend(&out, ", KV cache ", planning::KvCacheDtypeName(t.kv_dtype), "\n");
  absl::StrAppend(&out, "load      ", t.concurrency, " sequences x ", t.context, " tokens (",
                  p.sequences_per_gpu, " per GPU), up to ", t.max_batch_tokens,
                  " tokens per GPU per step\n\n");
  return out;
}

std::string PartsTable(const MemoryPlan& p) {
  const std::string bytes_header =
      absl::StrCat("GB (", planning::WeightPrecisionName(p.target.precision), ")");
  Table table({"PART", "PARAMETERS", bytes_header, "PLACEMENT"}, {1, 2});
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

// The parts the "attention + dense" row holds, those the model has.
std::string ReplicatedParts(const MemoryPlan& p) {
  std::string out;
  for (auto part : {planning::WeightPart::kAttention, planning::WeightPart::kNorms,
                    planning::WeightPart::kRouters, planning::WeightPart::kDenseMlp,
                    planning::WeightPart::kSharedExperts}) {
    if (p.parameters[part] > 0)
      absl::StrAppend(&out, out.empty() ? "" : ", ", planning::WeightPartName(part));
  }
  return out;
}

std::string MemoryTable(const MemoryPlan& p) {
  const planning::ModelShape& m = p.model;
  const planning::ActivationEstimate& a = p.activations;
  Table table({"PER GPU", "GB", "WHAT"}, {1});
  auto gb = [](int64_t bytes) { return planning::FormatGb(bytes); };
  table.AddRow({"weights: attention + dense", gb(p.weights.replicated), ReplicatedParts(p)});
  table.AddRow({"weights: embeddings + lm_head", gb(p.weights.embeddings),
                m.tie_word_embeddings ? "tied: one matrix" : "embed_tokens and lm_head"});
  const std::string slots =
      p.target.redundant > 0
          ? absl::StrCat(p.placement.MaxSlotsPerRank(), " expert slots (replicas included)")
          : absl::StrCat(p.placement.MaxSlotsPerRank(), " of ", m.num_experts, " experts");
  table.AddRow({"weights: routed experts", gb(p.weights.routed_experts),
                absl::StrCat(slots, " x ", gb(p.bytes_per_expert), " GB (an expert in all ",
                             m.MoeLayerCount(), " MoE layers)")});
  table.AddRow(
      {"KV cache", gb(p.kv_cache),
       absl::StrCat(p.sequences_per_gpu, " sequences x ", gb(p.kv_bytes_per_sequence), " GB, ",
                    planning::KvElementsPerTokenPerLayer(m), " values per token per layer")});
  const char* stage = a.feed_forward >= std::max(a.attention, a.logits) ? "MoE/MLP"
                      : a.attention >= a.logits                         ? "attention"
                                                                        : "logits";
  table.AddRow({"activations", gb(a.total),
                absl::StrCat(p.step_tokens, " tokens per step; largest stage: ", stage)});
  table.AddRow({"runtime reserve", gb(p.reserve), "CUDA context, workspaces, comm buffers"});
  table.AddRow({"total", gb(p.total), "weights + KV cache + activations + reserve"});
  table.AddRow({"GPU memory", gb(p.target.gpu.memory_bytes), p.target.gpu.display});
  table.AddRow({"headroom", gb(p.headroom), p.Fits() ? "fits" : "DOES NOT FIT"});
  return table.Render();
}

std::string MinimumGpusTable(const MemoryPlan& p,
                             const std::vector<planning::GpuCountForPrecision>& counts) {
  std::string out = absl::StrCat("fewest GPUs (", p.target.gpu.display, ", ",
                                 planning::FormatGb(p.target.gpu.memory_bytes), " GB; EP = GPUs; ",
                                 p.target.concurrency, " x ", p.target.context, " tokens)\n");
  Table table({"PRECISION", "WEIGHTS GB", "GPUS", "PER GPU GB"}, {1, 2, 3});
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
  Table table({"RANK", "EXPERTS", "REPLICAS", "SLOTS"}, {0, 3});
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
  std::printf("%s%s\n%s\n%s\n%s", Header(*plan).c_str(), PartsTable(*plan).c_str(),
              MemoryTable(*plan).c_str(), MinimumGpusTable(*plan, *counts).c_str(),
              PlacementTable(*plan).c_str());
  if (!plan->Fits())
    std::printf("\n%s\n", std::string(planning::CheckPlanFits(*plan).message()).c_str());
  return 0;
}

}  // namespace sy::cli
