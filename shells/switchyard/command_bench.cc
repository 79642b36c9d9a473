// switchyard bench quant | moe | decode | serve | eplb | a2a
#include <utility>
#include <vector>

#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"

namespace sy::cli {

int BenchQuant(const ParsedArgs& args);   // bench_quant.cc
int BenchMoe(const ParsedArgs& args);     // bench_moe.cc
int BenchDecode(const ParsedArgs& args);  // bench_decode.cc
int BenchServe(const ParsedArgs& args);   // bench_serve.cc
int BenchEplb(const ParsedArgs& args);    // bench_eplb.cc
int BenchA2a(const ParsedArgs& args);     // bench_a2a.cc

int BenchCommand(const std::vector<std::string>& argv) {
  // Its own options, and those of the model that decode loads (with --experts: bench moe's
  // expert count, or decode's experts component).
  std::vector<OptionSpec> spec = {
      {"rows", true},         {"cols", true},          {"hidden", true},
      {"url", true},          {"requests", true},      {"concurrency", true},
      {"input-tokens", true}, {"output-tokens", true}, {"seed", true},
      {"vocab", true},        {"timeout", true},       {"json", false},
      {"intermediate", true}, {"top-k", true},         {"tokens", true},
      {"iterations", true},   {"shape", true},         {"dtype", true},
      {"torch", true},        {"path", true},          {"token-tiles", true},
      {"row-groups", true},   {"pdl", true},           {"fp8-activations", true},
      {"block-m", true},      {"half-tiles", true},    {"raster-group", true},
      {"trace", true},        {"text", true},          {"text-tokens", true},
      {"ranks", true},        {"nodes", true},         {"redundant", true},
      {"groups", true},       {"policy", true},        {"skew", true},
      {"warmup", true},       {"iters", true},         {"batch", true},
      {"context", true},      {"steps", true}};
  for (OptionSpec& option : ModelOptionSpecs()) spec.push_back(std::move(option));
  auto args = Parse(argv, spec,
                    /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("bench", args.status().message());
  if (args->Has("help")) return PrintUsage("bench");
  if (args->positional.size() != 1) {
    return UsageError("bench", "name one benchmark: quant, moe, decode, serve, eplb or a2a");
  }
  const std::string& which = args->positional[0];
  if (which == "quant") return BenchQuant(*args);
  if (which == "moe") return BenchMoe(*args);
  if (which == "decode") return BenchDecode(*args);
  if (which == "serve") return BenchServe(*args);
  if (which == "eplb") return BenchEplb(*args);
  if (which == "a2a") return BenchA2a(*args);
  return UsageError("bench",
                    "unknown benchmark '" + which + "' (quant, moe, decode, serve, eplb, a2a)");
}

}  // namespace sy::cli
