// switchyard bench quant | moe | decode | serve | eplb | a2a
#include "shells/switchyard/commands.h"

namespace sy::cli {

int BenchQuant(const ParsedArgs& args);   // bench_quant.cc
int BenchMoe(const ParsedArgs& args);     // bench_moe.cc
int BenchDecode(const ParsedArgs& args);  // bench_decode.cc
int BenchServe(const ParsedArgs& args);   // bench_serve.cc
int BenchEplb(const ParsedArgs& args);    // bench_eplb.cc
int BenchA2a(const ParsedArgs& args);     // bench_a2a.cc

int BenchCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv,
                    {{"rows", true},
                     {"cols", true},
                     {"device", true},
                     {"experts", true},
                     {"hidden", true},
                     {"url", true},
                     {"requests", true},
                     {"concurrency", true},
                     {"input-tokens", true},
                     {"output-tokens", true},
                     {"model", true},
                     {"seed", true},
                     {"vocab", true},
                     {"timeout", true},
                     {"json", false},
                     {"intermediate", true},
                     {"top-k", true},
                     {"tokens", true},
                     {"iterations", true},
                     {"quantizer", true},
                     {"shape", true},
                     {"dtype", true},
                     {"torch", true},
                     {"path", true},
                     {"token-tiles", true},
                     {"row-groups", true},
                     {"pdl", true},
                     {"fp8-activations", true},
                     {"block-m", true},
                     {"half-tiles", true},
                     {"raster-group", true},
                     {"trace", true},
                     {"text", true},
                     {"text-tokens", true},
                     {"router", true},
                     {"ranks", true},
                     {"nodes", true},
                     {"redundant", true},
                     {"groups", true},
                     {"policy", true},
                     {"skew", true},
                     {"comm", true},
                     {"warmup", true},
                     {"iters", true},
                     {"weights", true},
                     {"batch", true},
                     {"context", true},
                     {"steps", true},
                     {"layers", true},
                     {"rebalance-interval", true},
                     {"rebalance-window", true}},
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
