#include "shells/switchyard/model_loading.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/install_layout.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/moe/online_rebalancer.h"
#include "core/planning/model_presets.h"
#include "shells/switchyard/layer_cut.h"

namespace sy::cli {
namespace {

// A one-line progress bar on stderr when it is a terminal; a final line otherwise.
void ShowProgress(int64_t done, int64_t total) {
  if (!isatty(STDERR_FILENO)) {
    if (done == total) std::fprintf(stderr, "loaded %lld layers\n", static_cast<long long>(total));
    return;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
  std::fprintf(stderr, "\rloading [%s%s] %lld/%lld layers", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, ' ').c_str(), static_cast<long long>(done),
               static_cast<long long>(total));
  if (done == total) std::fprintf(stderr, "\n");
}

constexpr const char* kRebalanceOptions[] = {"rebalance-interval", "rebalance-window",
                                             "placement-scheduler"};

// The rebalancing options without expert parallelism to rebalance: refused, saying where they
// would apply.
absl::Status RefuseRebalancing(const ParsedArgs& args, bool command_runs_expert_parallel) {
  for (const char* name : kRebalanceOptions) {
    if (!args.Has(name)) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " balances experts over expert-parallel ranks: ",
        command_runs_expert_parallel
            ? "run under switchyard launch (or pass --comm)"
            : "this command does not run expert-parallel (generate, perplexity, serve and bench "
              "decode do, under switchyard launch)"));
  }
  return absl::OkStatus();
}

// Joins the expert-parallel group the environment describes, for a model of `config`.
absl::StatusOr<ExpertParallelGroup> JoinGroup(const ParsedArgs& args, const RankInfo& info,
                                              const ModelConfig& config,
                                              const ComponentRegistry& registry, ExecContext& ctx) {
  ExpertParallelOptions options;
  // The GPU model's rows carry the experts' bf16 input as it is.
  if (ctx.device().is_cuda()) options.dispatch_dtype = DispatchDType::kBF16;
  SY_ASSIGN_OR_RETURN(options.timeout, TimeoutFromEnvironment(options.timeout));
  options.comm = args.Get("comm", options.comm);
  options.placement_scheduler = args.Get("placement-scheduler", options.placement_scheduler);
  SY_ASSIGN_OR_RETURN(options.redundant_slots,
                      args.GetInt("redundant-experts", options.redundant_slots, 0));
  if (args.Has("dispatch-dtype")) {
    auto dtype = ParseDispatchDType(args.Get("dispatch-dtype"));
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dispatch-dtype: ", dtype.status().message()));
    }
    options.dispatch_dtype = *dtype;
  }
  SY_ASSIGN_OR_RETURN(options.rebalance_interval,
                      args.GetInt("rebalance-interval", options.rebalance_interval, 0));
  SY_ASSIGN_OR_RETURN(options.rebalance_window,
                      args.GetInt("rebalance-window", options.rebalance_window, 1));
  if (options.rebalance_interval == 0) {
    for (const char* name : {"rebalance-window", "placement-scheduler"}) {
      if (args.Has(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", name,
            " configures online rebalancing, which is off: add --rebalance-interval N"));
      }
    }
  }
  return JoinExpertParallelGroup(info, config, registry, options, ctx);
}

// What --weights random builds: the config of --model (a folder's config.json, or a preset's)
// cut to --layers, and the folder's tokenizer, else the built-in model's.
struct RandomModelSpec {
  std::string name;
  nlohmann::json config;
  std::string tokenizer;
};

absl::StatusOr<RandomModelSpec> RandomModelSpecFromArgs(const ParsedArgs& args) {
  if (!args.Has("model")) {
    return absl::InvalidArgumentError(
        "--weights random needs --model: a folder with config.json, or a preset (" +
        absl::StrJoin(planning::ModelPresetNames(), ", ") + ")");
  }
  const std::string model = args.Get("model");
  std::string tokenizer = BuiltinModelDir() + "/tokenizer.json";
  nlohmann::json config;
  std::string name = model;
  if (std::filesystem::is_directory(model)) {
    std::ifstream in(model + "/config.json");
    if (!in) return absl::NotFoundError(absl::StrCat(model, "/config.json: cannot open"));
    config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(model, "/config.json: not valid JSON"));
    }
    if (std::filesystem::exists(model + "/tokenizer.json")) tokenizer = model + "/tokenizer.json";
    name = std::filesystem::path(model).lexically_normal().filename().string();
  } else {
    SY_ASSIGN_OR_RETURN(config, planning::ModelPresetConfig(model));
  }
  const int64_t all = config.value("num_hidden_layers", int64_t{0});
  SY_ASSIGN_OR_RETURN(const int64_t layers, LayersToKeep(args, all, model));
  if (layers < all) {
    config["num_hidden_layers"] = layers;
    // Per-layer lists (gpt-oss's layer_types) keep their first `layers` entries.
    if (config.contains("layer_types") && config["layer_types"].is_array() &&
        config["layer_types"].size() > static_cast<size_t>(layers)) {
      config["layer_types"].erase(config["layer_types"].begin() + layers,
                                  config["layer_types"].end());
    }
    name = absl::StrCat(name, " (first ", layers, " of ", all, " layers)");
  }
  return RandomModelSpec{name, std::move(config), tokenizer};
}

}  // namespace

std::vector<OptionSpec> ModelOptionSpecs() {
  return {{"model", true},
          {"router", true},
          {"quantizer", true},
          {"experts", true},
          {"comm", true},
          {"redundant-experts", true},
          {"dispatch-dtype", true},
          {"rebalance-interval", true},
          {"rebalance-window", true},
          {"placement-scheduler", true},
          {"device", true},
          {"weights", true},
          {"layers", true}};
}

absl::StatusOr<Device> RankDevice(absl::string_view option, int local_rank) {
  auto device = Device::Parse(option);
  if (!device.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--device: ", device.status().message()));
  }
  const int gpus = cuda::DeviceCount();
  if (option == "cuda" && gpus > 0) device->index = local_rank % gpus;
  if (device->is_cuda() && device->index >= gpus) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device ", option, ": this machine has ", gpus, " usable CUDA device(s)",
                     cuda::Built() ? "" : " (this build has no CUDA)"));
  }
  return *device;
}

absl::StatusOr<std::unique_ptr<ExecContext>> CreateContextFromArgs(const ParsedArgs& args) {
  SY_ASSIGN_OR_RETURN(const RankInfo info, RankInfoFromEnvironment());
  SY_ASSIGN_OR_RETURN(const Device device, RankDevice(args.Get("device", "cpu"), info.local_rank));
  return ExecContext::Create(device, 0);
}

absl::StatusOr<std::unique_ptr<LanguageModel>> LoadModelFromArgs(const ParsedArgs& args,
                                                                 const ComponentRegistry& registry,
                                                                 ExecContext& ctx,
                                                                 ExpertParallelGroup* group) {
  const std::string dir = args.Get("model", BuiltinModelDir());
  ModelOptions options;
  options.device = ctx.device();
  if (options.device.is_cuda()) {
    for (const char* cpu_only : {"router", "quantizer", "experts"}) {
      if (args.Has(cpu_only)) {
        return absl::UnimplementedError(absl::StrCat(
            "--", cpu_only,
            " does not apply with --device cuda: the GPU model runs the "
            "architecture's router and bf16 experts in its own fused kernels for now"));
      }
    }
  }
  const std::string weights = args.Get("weights", "checkpoint");
  if (weights != "checkpoint" && weights != "random") {
    return absl::InvalidArgumentError(
        absl::StrCat("--weights: expected checkpoint or random, got '", weights, "'"));
  }
  options.experts = args.Get("experts", options.experts);
  options.quantizer = args.Get("quantizer");
  options.router = args.Get("router");
  options.progress = ShowProgress;
  std::optional<RandomModelSpec> random;
  if (weights == "random") {
    SY_ASSIGN_OR_RETURN(random, RandomModelSpecFromArgs(args));
  } else if (args.Has("layers")) {
    return absl::InvalidArgumentError("--layers applies to --weights random only");
  }
  SY_ASSIGN_OR_RETURN(const RankInfo info, RankInfoFromEnvironment());
  if (group == nullptr) SY_RETURN_IF_ERROR(RefuseRebalancing(args, false));
  if (info.world_size > 1 || args.Has("comm")) {
    if (group == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("this command does not run expert-parallel (the environment names ",
                       info.world_size, " ranks): run it without switchyard launch"));
    }
    ModelConfig config;
    if (random) {
      SY_ASSIGN_OR_RETURN(config, ParseModelConfig(random->config, random->name + " config.json"));
    } else {
      SY_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
      config = checkpoint.config();
    }
    SY_ASSIGN_OR_RETURN(*group, JoinGroup(args, info, config, registry, ctx));
    options.expert_parallel = group->expert_parallel;
  } else {
    SY_RETURN_IF_ERROR(RefuseRebalancing(args, true));
    if (args.Has("dispatch-dtype")) {
      return absl::InvalidArgumentError(
          "--dispatch-dtype sets how tokens travel between expert-parallel ranks: run under "
          "switchyard launch (or pass --comm)");
    }
  }
  if (random) {
    return LanguageModel::CreateRandom(random->name, random->config, random->tokenizer, options,
                                       /*seed=*/0, ctx);
  }
  return LanguageModel::Load(dir, registry, options, ctx);
}

std::string RebalanceSummary(const ExpertParallelGroup& group) {
  if (!group.expert_parallel || !group.expert_parallel->rebalancer) return "";
  const OnlineRebalancer& r = *group.expert_parallel->rebalancer;
  std::string out = absl::StrCat("eplb: ", r.rebalances(), " rebalance",
                                 r.rebalances() == 1 ? "" : "s", " in ", r.steps(), " steps");
  if (r.last_rebalance()) absl::StrAppend(&out, "; last at ", r.last_rebalance()->Describe());
  return out;
}

}  // namespace sy::cli
