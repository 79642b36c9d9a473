// switchyard perplexity [--model DIR] --text FILE [--window N] [--max-tokens N]
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/model/perplexity.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard perplexity: %s\n", std::string(status.message()).c_str());
  return 1;
}

// The file's documents (separated by two blank lines) encoded one after another with an
// end-of-sequence token between them, as the built-in model's training script streams them.
absl::StatusOr<std::vector<int32_t>> ReadDocuments(const LanguageModel& model,
                                                   const std::string& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  auto ids = model.EncodeDocuments(text.str(), limit);
  if (!ids.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", ids.status().message()));
  return ids;
}

void ShowWindows(int64_t done, int64_t total) {
  if (done == total || done % 16 == 0) {
    std::fprintf(stderr, "\rscoring %lld/%lld windows", static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fprintf(stderr, "\n");
  }
}

// Scores this process's share of the windows: all of them, or under expert parallelism every
// world_size-th, the shares then added up over the ranks.
absl::StatusOr<PerplexityResult> ScoreShare(LanguageModel& model, ExecContext& ctx,
                                            const std::vector<int32_t>& ids, int64_t window,
                                            const ExpertParallelGroup& group) {
  if (!group.bootstrap) return Perplexity(*model.network, ctx, ids, window, ShowWindows);
  const RankInfo& info = group.bootstrap->info();
  SY_ASSIGN_OR_RETURN(PerplexityResult mine, Perplexity(*model.network, ctx, ids, window,
                                                        info.rank == 0 ? ShowWindows : nullptr,
                                                        WindowShare{info.rank, info.world_size}));
  SY_RETURN_IF_ERROR(model.network->FinishSteps(ctx));
  std::vector<PerplexityResult> shares(info.world_size);
  SY_RETURN_IF_ERROR(group.bootstrap->AllGather(&mine, sizeof mine, shares.data()));
  return CombineShares(shares);
}

}  // namespace

int PerplexityCommand(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> spec = {{"text", true}, {"window", true}, {"max-tokens", true}};
  for (OptionSpec& option : ModelOptionSpecs()) spec.push_back(std::move(option));
  auto args = Parse(argv, spec, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("perplexity", args.status().message());
  if (args->Has("help")) return PrintUsage("perplexity");
  if (!args->Has("text")) return UsageError("perplexity", "--text is required");
  const absl::StatusOr<int64_t> window = args->GetInt("window", 256, 2);
  if (!window.ok()) return UsageError("perplexity", window.status().message());
  const absl::StatusOr<int64_t> limit = args->GetInt("max-tokens", 0, 0);
  if (!limit.ok()) return UsageError("perplexity", limit.status().message());

  const auto registry = LoadPlugins(*args);
  auto ctx = CreateContextFromArgs(*args);
  if (!ctx.ok()) return Fail(ctx.status());
  ExpertParallelGroup group;
  auto model = LoadModelFromArgs(*args, *registry, **ctx, &group);
  if (!model.ok()) return Fail(model.status());
  auto ids = ReadDocuments(**model, args->Get("text"), *limit);
  if (!ids.ok()) return Fail(ids.status());
  auto result = ScoreShare(**model, **ctx, *ids, *window, group);
  if (!result.ok()) return Fail(result.status());
  if (group.bootstrap && group.bootstrap->info().rank != 0) return 0;  // rank 0 reports

  TextTable table({"model", "text", "tokens", "windows", "nll/token", "perplexity", "tokens/s"});
  table.AddRow({(*model)->name, args->Get("text"), absl::StrCat(ids->size()),
                absl::StrCat(result->windows), absl::StrFormat("%.4f", result->mean_nll),
                absl::StrFormat("%.3f", result->perplexity),
                absl::StrFormat("%.0f", ids->size() / std::max(result->seconds, 1e-9))});
  std::printf("%s", table.Render().c_str());
  if (const std::string eplb = RebalanceSummary(group); !eplb.empty()) {
    std::fprintf(stderr, "%s\n", eplb.c_str());
  }
  return 0;
}

}  // namespace sy::cli
