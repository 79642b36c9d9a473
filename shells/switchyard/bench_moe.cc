// switchyard bench moe --device cpu: one MoE layer (gate GEMM, router, experts) at several
// token counts, against the machine's own f32 GEMM peak measured in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "core/moe/moe_layer.h"
#include "core/tensor/matmul.h"
#include "core/tensor/tensor_random.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/host_bandwidth.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Best of five f32 GEMMs of n^3: what OpenBLAS reaches on this machine.
double MeasureGemmGflops(int64_t n) {
  const Tensor a = *RandomNormal({n, n}, 1), b = *RandomNormal({n, n}, 2);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    (void)*MatMulTransposed(a, b);
    best = std::max(best, 2.0 * n * n * n / Seconds(start) / 1e9);
  }
  return best;
}

absl::StatusOr<std::vector<int64_t>> ParseList(const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1)
      return absl::InvalidArgumentError(absl::StrCat("bad token count '", part, "'"));
    values.push_back(v);
  }
  return values;
}

struct Timing {
  double median_seconds;
  double gflop;
  double weight_gb;  // expert weights the step touched (every expert that got a token)
};

absl::StatusOr<Timing> TimeLayer(MoeLayer& layer, ExecContext& ctx, int64_t tokens,
                                 int iterations) {
  const MoeShape& s = layer.shape();
  SY_ASSIGN_OR_RETURN(const Tensor x, RandomNormal({tokens, s.hidden}, 7));
  SY_RETURN_IF_ERROR(layer.Forward(ctx, x).status());  // warm-up: workspace, thread pools
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    SY_RETURN_IF_ERROR(layer.Forward(ctx, x).status());
    times.push_back(Seconds(start));
  }
  std::sort(times.begin(), times.end());
  const double k = layer.router().top_k;
  // gate GEMM + per routed slot: gate_up (2I x H) and down (H x I); shared expert per token.
  const double flop = 2.0 * tokens *
                      (s.experts * s.hidden + k * 3.0 * s.intermediate * s.hidden +
                       3.0 * s.shared_intermediate * s.hidden);
  const ExpertWeights& w = layer.expert_weights();
  double bytes = 0;
  for (int e = 0; e < s.experts; ++e) {
    if (layer.last_load().tokens_per_expert[e] > 0)
      bytes += static_cast<double>(w.gate_up[e].nbytes() + w.down[e].nbytes());
  }
  if (w.shared_gate_up)
    bytes += static_cast<double>(w.shared_gate_up->nbytes() + w.shared_down->nbytes());
  return Timing{times[times.size() / 2], flop / 1e9, bytes / 1e9};
}

// gate -> router.softmax_topk(k) -> experts.cpu, weights converted by `quantizer_name` if set.
absl::StatusOr<std::unique_ptr<MoeLayer>> BuildLayer(const ComponentRegistry& registry,
                                                     const MoeShape& shape, int k,
                                                     const std::string& quantizer_name,
                                                     ExecContext& ctx) {
  SY_ASSIGN_OR_RETURN(RegisteredComponent router_found, registry.Find("router.softmax_topk"));
  SY_ASSIGN_OR_RETURN(auto router_component,
                      Component::Create(router_found, {ConfigTable{{"k", {int64_t{k}}}}}));
  SY_ASSIGN_OR_RETURN(Router router, Router::From(router_component));
  SY_ASSIGN_OR_RETURN(RegisteredComponent experts_found, registry.Find("experts.cpu"));
  SY_ASSIGN_OR_RETURN(auto experts_component, Component::Create(experts_found, {}));
  SY_ASSIGN_OR_RETURN(Experts experts, Experts::From(experts_component));
  std::optional<Quantizer> quantizer;
  if (!quantizer_name.empty()) {
    SY_ASSIGN_OR_RETURN(RegisteredComponent found, registry.Find(quantizer_name));
    SY_ASSIGN_OR_RETURN(auto component, Component::Create(found, {}));
    SY_ASSIGN_OR_RETURN(quantizer, Quantizer::From(component));
  }
  SY_ASSIGN_OR_RETURN(MoeWeights weights, MoeWeights::Random(shape, 1));
  return MoeLayer::Create(RoutingFunction::FromRouter(router), quantizer, experts, weights, {},
                          ctx);
}

}  // namespace

#ifdef SY_BENCH_MOE_CUDA
int BenchMoeCuda(const ParsedArgs& args);  // bench_moe_cuda.cc
#endif

int BenchMoe(const ParsedArgs& args) {
  const std::string device = args.Get("device", "cpu");
  if (device == "cuda") {
#ifdef SY_BENCH_MOE_CUDA
    return BenchMoeCuda(args);
#else
    return UsageError("bench", "this build has no CUDA (configure with SY_ENABLE_CUDA=ON)");
#endif
  }
  if (device != "cpu") return UsageError("bench", "--device must be cpu or cuda");
  MoeShape shape;
  int k = 2;
  int iterations = 5;
  const absl::Status read = [&]() -> absl::Status {
    SY_ASSIGN_OR_RETURN(shape.experts, args.GetInt("experts", 8, 1));
    SY_ASSIGN_OR_RETURN(shape.hidden, args.GetInt("hidden", 1024, 1));
    SY_ASSIGN_OR_RETURN(shape.intermediate, args.GetInt("intermediate", 3584, 1));
    SY_ASSIGN_OR_RETURN(k, args.GetInt("top-k", k, 1));
    SY_ASSIGN_OR_RETURN(iterations, args.GetInt("iterations", iterations, 1));
    return absl::OkStatus();
  }();
  if (!read.ok()) return UsageError("bench", read.message());
  auto tokens = ParseList(args.Get("tokens", "1,16,64,256"));
  if (!tokens.ok()) return UsageError("bench", tokens.status().message());
  const std::string quantizer_name = args.Get("quantizer", "");

  const auto registry = LoadPlugins(args);
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "switchyard bench moe: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  auto ctx = ExecContext::Create(Device::Cpu(), 0);
  if (!ctx.ok()) return fail(ctx.status());
  std::printf("generating weights: %d experts, H=%lld, I=%lld, top-%d, %s\n", shape.experts,
              static_cast<long long>(shape.hidden), static_cast<long long>(shape.intermediate), k,
              quantizer_name.empty() ? "f32" : quantizer_name.c_str());
  auto layer = BuildLayer(*registry, shape, k, quantizer_name, **ctx);
  if (!layer.ok()) return fail(layer.status());

  const double peak = MeasureGemmGflops(2048);
  const double bandwidth = MeasureCopyGBps();
  std::printf(
      "measured on this machine: f32 GEMM %.1f GFLOP/s (OpenBLAS 2048^3), memory %.1f GB/s "
      "(memcpy,\n"
      "read + write); %d threads. Roofline = max(weight bytes / memory, FLOPs / GEMM).\n\n",
      peak, bandwidth, (*ctx)->num_threads());
  TextTable table(
      {"TOKENS", "LAYER MS", "TOKENS/S", "GFLOP/S", "% GEMM PEAK", "WEIGHTS GB/S", "% ROOFLINE"});
  for (int64_t t : *tokens) {
    const absl::StatusOr<Timing> measured = TimeLayer(**layer, **ctx, t, iterations);
    if (!measured.ok()) return fail(measured.status());
    const Timing& timing = *measured;
    const double gflops = timing.gflop / timing.median_seconds;
    const double roofline = std::max(timing.weight_gb / bandwidth, timing.gflop / peak);
    table.AddRow({absl::StrCat(t), absl::StrFormat("%.3f", timing.median_seconds * 1e3),
                  absl::StrFormat("%.0f", t / timing.median_seconds),
                  absl::StrFormat("%.1f", gflops), absl::StrFormat("%.1f%%", 100.0 * gflops / peak),
                  absl::StrFormat("%.1f", timing.weight_gb / timing.median_seconds),
                  absl::StrFormat("%.1f%%", 100.0 * roofline / timing.median_seconds)});
  }
  std::printf("%s", table.Render().c_str());
  return 0;
}

}  // namespace sy::cli
