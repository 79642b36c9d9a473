// switchyard ab [--model DIR] --a SPEC --b SPEC [--prompts FILE] [--text FILE] [--max-tokens N]
//               [--html FILE] [--json FILE]
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/ab/ab_experiment.h"
#include "core/ab/ab_prompts.h"
#include "core/ab/ab_report_html.h"
#include "core/ab/ab_report_json.h"
#include "core/ab/ab_spec.h"
#include "core/ab/ab_stats.h"
#include "core/base/install_layout.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard ab: %s\n", std::string(status.message()).c_str());
  return 1;
}

std::string Percent(double fraction) { return absl::StrFormat("%.1f%%", 100 * fraction); }

std::string RenderTables(const ab::Report& r) {
  const ab::Quality& q = r.quality;
  const auto spec = [](const std::string& s) { return s.empty() ? "(as loaded)" : s; };
  std::string out = absl::StrFormat(
      "switchyard ab: %s, %d prompts (%d tokens), greedy continuations of up to %d tokens\n"
      "  A  %s\n  B  %s\n\n",
      r.model, q.prompts, r.prompt_tokens, r.options.max_tokens, spec(r.a.spec), spec(r.b.spec));

  const PerplexityResult& pa = r.a.run.perplexity;
  const PerplexityResult& pb = r.b.run.perplexity;
  TextTable quality({"QUALITY (B against A)", "A", "B", "B vs A"});
  quality.AddRow({absl::StrCat("perplexity (", r.heldout.empty() ? "prompts" : r.heldout, ", ",
                               pa.scored_tokens, " tokens)"),
                  absl::StrFormat("%.3f", pa.perplexity), absl::StrFormat("%.3f", pb.perplexity),
                  pa.perplexity > 0
                      ? absl::StrFormat("%+.2f%%", 100 * (pb.perplexity / pa.perplexity - 1))
                      : ""});
  quality.AddRow({"mean KL(A||B), nats", "", absl::StrFormat("%.4f", q.mean_kl),
                  absl::StrFormat("max %.4f", q.max_kl)});
  quality.AddRow(
      {"top-1 agreement", "", Percent(q.top1_agreement),
       absl::StrCat(std::llround(q.top1_agreement * q.positions), "/", q.positions, " positions")});
  quality.AddRow({"greedy agreement", "", Percent(q.greedy_agreement()),
                  absl::StrCat(q.greedy_identical, "/", q.prompts, " prompts identical")});
  quality.AddRow({"mean matching prefix, tokens", absl::StrFormat("%.1f", q.mean_continuation),
                  absl::StrFormat("%.1f", q.mean_matching_prefix), ""});
  absl::StrAppend(&out, quality.Render(), "\n");

  TextTable speed({"SPEED", "decode steps", "tokens/s", "P50 ms", "P90 ms", "P99 ms"});
  for (const auto& [label, side] : {std::pair{"A", &r.a}, std::pair{"B", &r.b}}) {
    const ab::Speed& s = side->speed;
    speed.AddRow({label, absl::StrCat(s.steps), absl::StrFormat("%.1f", s.tokens_per_second),
                  absl::StrFormat("%.3f", s.p50_ms), absl::StrFormat("%.3f", s.p90_ms),
                  absl::StrFormat("%.3f", s.p99_ms)});
  }
  absl::StrAppend(&out, speed.Render(), "\n");

  TextTable load(
      {"LOAD layer", "side", "slots per expert", "max/mean", "CV", "hot", "dropped", "rerouted"});
  for (size_t l = 0; l < r.a.run.layer_loads.size(); ++l) {
    for (const auto& [label, side] : {std::pair{"A", &r.a}, std::pair{"B", &r.b}}) {
      if (l >= side->run.layer_loads.size()) continue;
      const ExpertLoad& e = side->run.layer_loads[l];
      std::vector<std::string> hot;
      for (int id : ab::HotExperts(e.tokens_per_expert, 2)) hot.push_back(absl::StrCat("e", id));
      load.AddRow({absl::StrCat(l), label, absl::StrJoin(e.tokens_per_expert, " "),
                   absl::StrFormat("%.2f", e.max_over_mean),
                   absl::StrFormat("%.3f", e.coefficient_of_variation), absl::StrJoin(hot, ","),
                   absl::StrCat(e.dropped), absl::StrCat(e.rerouted)});
    }
  }
  absl::StrAppend(&out, load.Render());
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.good()) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace

int AbCommand(const std::vector<std::string>& argv) {
  const std::vector<OptionSpec> spec = {
      {"model", true}, {"a", true},           {"b", true},      {"prompts", true},
      {"text", true},  {"text-tokens", true}, {"window", true}, {"max-tokens", true},
      {"html", true},  {"json", true}};
  auto args = Parse(argv, spec, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("ab", args.status().message());
  if (args->Has("help")) return PrintUsage("ab");
  if (!args->positional.empty())
    return UsageError("ab", absl::StrCat("unexpected argument '", args->positional[0], "'"));
  if (!args->Has("a") && !args->Has("b"))
    return UsageError("ab", "give at least one of --a and --b");
  // Specs are checked before anything loads, so a typo fails at once.
  for (const char* side : {"a", "b"}) {
    if (auto parsed = ab::ParseSide(args->Get(side)); !parsed.ok())
      return UsageError("ab", absl::StrCat("--", side, ": ", parsed.status().message()));
  }

  ab::Experiment in;
  in.a = args->Get("a");
  in.b = args->Get("b");
  in.model_dir = args->Get("model", BuiltinModelDir());
  const absl::StatusOr<int32_t> max_tokens = args->GetInt<int32_t>("max-tokens", 32, 1, 1 << 20);
  if (!max_tokens.ok()) return UsageError("ab", max_tokens.status().message());
  in.options.max_tokens = *max_tokens;
  const absl::StatusOr<int64_t> window = args->GetInt("window", 256, 2);
  if (!window.ok()) return UsageError("ab", window.status().message());
  in.options.window = *window;
  const absl::StatusOr<int64_t> heldout_tokens = args->GetInt("text-tokens", 4096, 2);
  if (!heldout_tokens.ok()) return UsageError("ab", heldout_tokens.status().message());
  in.heldout_tokens = *heldout_tokens;
  in.heldout_path = args->Get("text");
  if (args->Has("prompts")) {
    auto prompts = ab::LoadPrompts(args->Get("prompts"));
    if (!prompts.ok()) return Fail(prompts.status());
    in.prompts = std::move(*prompts);
  } else {
    in.prompts = ab::BuiltinPrompts();
  }

  const auto registry = LoadPlugins(*args);
  auto ctx = ExecContext::Create(Device::Cpu(), 0);
  if (!ctx.ok()) return Fail(ctx.status());
  auto report = ab::RunExperiment(in, *registry, **ctx, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  if (!report.ok()) return Fail(report.status());

  std::printf("%s", RenderTables(*report).c_str());
  for (const auto& [flag, render] :
       {std::pair{"html", &ab::ReportHtml}, std::pair{"json", &ab::ReportJson}}) {
    if (!args->Has(flag)) continue;
    if (absl::Status s = WriteFile(args->Get(flag), render(*report)); !s.ok()) return Fail(s);
    std::printf("wrote %s\n", args->Get(flag).c_str());
  }
  return 0;
}

}  // namespace sy::cli
