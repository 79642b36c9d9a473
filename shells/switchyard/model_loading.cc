#include "shells/switchyard/model_loading.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/install_layout.h"
#include "core/base/status.h"
#include "core/model/checkpoint.h"

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

// Joins the expert-parallel group the environment describes, for the model in `dir`.
absl::StatusOr<ExpertParallelGroup> JoinGroup(const ParsedArgs& args, const RankInfo& info,
                                              const std::string& dir,
                                              const ComponentRegistry& registry, ExecContext& ctx) {
  ExpertParallelOptions options;
  options.comm = args.Get("comm", options.comm);
  if (args.Has("redundant-experts") &&
      (!absl::SimpleAtoi(args.Get("redundant-experts"), &options.redundant_slots) ||
       options.redundant_slots < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--redundant-experts: expected an integer >= 0, got '", args.Get("redundant-experts"), "'"));
  }
  SY_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  return JoinExpertParallelGroup(info, checkpoint.config(), registry, options, ctx);
}

}  // namespace

std::vector<OptionSpec> ModelOptionSpecs() {
  return {{"model", true},   {"router", true}, {"quantizer", true},
          {"experts", true}, {"comm", true},   {"redundant-experts", true}};
}

absl::StatusOr<std::unique_ptr<LanguageModel>> LoadModelFromArgs(const ParsedArgs& args,
                                                                 const ComponentRegistry& registry,
                                                                 ExecContext& ctx,
                                                                 ExpertParallelGroup* group) {
  const std::string dir = args.Get("model", BuiltinModelDir());
  ModelOptions options;
  options.experts = args.Get("experts", options.experts);
  options.quantizer = args.Get("quantizer");
  options.router = args.Get("router");
  options.progress = ShowProgress;
  SY_ASSIGN_OR_RETURN(const RankInfo info, RankInfoFromEnvironment());
  if (info.world_size > 1 || args.Has("comm")) {
    if (group == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this command does not run expert-parallel (the environment names ", info.world_size,
          " ranks): run it without switchyard launch"));
    }
    SY_ASSIGN_OR_RETURN(*group, JoinGroup(args, info, dir, registry, ctx));
    options.expert_parallel = group->expert_parallel;
  }
  return LanguageModel::Load(dir, registry, options, ctx);
}

}  // namespace sy::cli
