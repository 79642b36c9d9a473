// switchyard generate [--model DIR] --prompt TEXT [sampling options]
#include <chrono>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/model/generation.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"

namespace sy::cli {
namespace {

// "--name VALUE" as a number, or a usage error naming the option.
template <typename T>
absl::Status ReadNumber(const ParsedArgs& args, const std::string& name, T& out) {
  if (!args.Has(name)) return absl::OkStatus();
  double value = 0;
  if (!absl::SimpleAtod(args.Get(name), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected a number, got '", args.Get(name), "'"));
  }
  out = static_cast<T>(value);
  return absl::OkStatus();
}

absl::StatusOr<SamplingParams> ReadSampling(const ParsedArgs& args) {
  SamplingParams p;
  p.temperature = 0;  // greedy unless asked
  p.max_tokens = 64;
  for (const auto& status :
       {ReadNumber(args, "temperature", p.temperature), ReadNumber(args, "top-k", p.top_k),
        ReadNumber(args, "top-p", p.top_p), ReadNumber(args, "min-p", p.min_p),
        ReadNumber(args, "repetition-penalty", p.repetition_penalty),
        ReadNumber(args, "seed", p.seed), ReadNumber(args, "max-tokens", p.max_tokens)}) {
    if (!status.ok()) return status;
  }
  p.stop = args.GetAll("stop");
  if (absl::Status s = p.Validate(); !s.ok()) return s;
  return p;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard generate: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int GenerateCommand(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> spec = {
      {"prompt", true}, {"chat", false},     {"max-tokens", true}, {"temperature", true},
      {"top-k", true},  {"top-p", true},     {"min-p", true},      {"repetition-penalty", true},
      {"seed", true},   {"stop", true, true}};
  for (OptionSpec& option : ModelOptionSpecs()) spec.push_back(std::move(option));
  auto args = Parse(argv, spec, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("generate", args.status().message());
  if (args->Has("help")) return PrintUsage("generate");
  if (!args->Has("prompt")) return UsageError("generate", "--prompt is required");
  auto sampling = ReadSampling(*args);
  if (!sampling.ok()) return UsageError("generate", sampling.status().message());

  const auto registry = LoadPlugins(*args);
  const auto start = std::chrono::steady_clock::now();
  auto ctx = CreateContextFromArgs(*args);
  if (!ctx.ok()) return Fail(ctx.status());
  ExpertParallelGroup group;
  auto model = LoadModelFromArgs(*args, *registry, **ctx, &group);
  if (!model.ok()) return Fail(model.status());
  // Under expert parallelism rank 0 generates and the other ranks lend it their experts.
  if (group.bootstrap && group.bootstrap->info().rank != 0) {
    const absl::Status served = (*model)->network->FinishSteps(**ctx);
    return served.ok() ? 0 : Fail(served);
  }
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  absl::StatusOr<std::vector<int32_t>> prompt = (*model)->EncodeText(args->Get("prompt"));
  if (args->Has("chat")) {
    const std::vector<ChatMessage> messages = {{"user", args->Get("prompt")}};
    prompt = (*model)->EncodeChat(messages);
  }
  if (!prompt.ok()) return Fail(prompt.status());
  auto result = Generate(*(*model)->network, (*model)->tokenizer, **ctx, *prompt, *sampling,
                         (*model)->eos_ids, [](const std::string& piece) {
                           std::fwrite(piece.data(), 1, piece.size(), stdout);
                           std::fflush(stdout);
                         });
  if (!result.ok()) return Fail(result.status());
  if (absl::Status done = (*model)->network->FinishSteps(**ctx); !done.ok()) return Fail(done);
  const double decode_rate =
      result->tokens.size() > 1 ? (result->tokens.size() - 1) / result->decode_seconds : 0;
  std::fprintf(stderr,
               "\n\nloaded in %.2f s | prompt %lld tokens, prefill %.1f ms (%.0f tokens/s) | "
               "generated %zu tokens, "
               "%.1f tokens/s, finish: %s\n",
               load_seconds, static_cast<long long>(result->prompt_tokens),
               result->prefill_seconds * 1e3,
               result->prompt_tokens / std::max(result->prefill_seconds, 1e-9),
               result->tokens.size(), decode_rate, result->finish_reason.c_str());
  if (const std::string eplb = RebalanceSummary(group); !eplb.empty()) {
    std::fprintf(stderr, "%s\n", eplb.c_str());
  }
  return 0;
}

}  // namespace sy::cli
