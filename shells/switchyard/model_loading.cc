#include "shells/switchyard/model_loading.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/base/install_layout.h"

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

}  // namespace

std::vector<OptionSpec> ModelOptionSpecs() {
  return {{"model", true}, {"router", true}, {"quantizer", true}, {"experts", true}};
}

absl::StatusOr<std::unique_ptr<LanguageModel>> LoadModelFromArgs(const ParsedArgs& args,
                                                                 const ComponentRegistry& registry,
                                                                 ExecContext& ctx) {
  ModelOptions options;
  options.experts = args.Get("experts", options.experts);
  options.quantizer = args.Get("quantizer");
  options.router = args.Get("router");
  options.progress = ShowProgress;
  return LanguageModel::Load(args.Get("model", BuiltinModelDir()), registry, options, ctx);
}

}  // namespace sy::cli
