// switchyard bench moe --device cuda: the whole MoE layer (routing from logits, alignment,
// gate_up + SwiGLU, down, weighted combine) at full model shapes on the GPU, replayed from a
// CUDA graph, against the HBM and tensor-core roofline, and beside torch's _grouped_mm layer
// (scripts/reference/torch_moe_reference.py, run as a subprocess) when torch is installed.
//
// Weights are synthesized on the device (uniform, the scale of trained layers), so no host
// copy is made. Each graph holds kVariants layers with different router logits, so
// consecutive layers route to different experts and the numbers are not L2 hits on the
// previous replay's weights (Qwen3's whole layer is 1.2 GB, its L2 50 MB).
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kernels/moe/moe_cuda.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/reference_script.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

namespace k = sy::kernels;

constexpr double kHbmBytesPerSecond = 4.8e12;     // H200 nominal
constexpr double kMatrixFlopsPerSecond = 793e12;  // bf16 dense matmul measured (DESIGN.md)
// e4m3 x e4m3 (w8a8 prefill): the tensor cores' fp8 rate is twice bf16's.
constexpr double kFp8MatrixFlopsPerSecond = 2 * kMatrixFlopsPerSecond;
constexpr int kVariants = 16;  // layers per graph, each with its own logits

struct ModelShape {
  const char* name;
  int32_t experts, top_k;
  int64_t hidden, intermediate;
};

constexpr ModelShape kShapes[] = {
    {"mixtral-8x7b", 8, 2, 4096, 14336},
    {"qwen3-30b-a3b", 128, 8, 2048, 768},
    {"deepseek-v3", 256, 8, 7168, 2048},
};

// Frees device memory on scope exit.
struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

bool Ok(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return true;
  std::fprintf(stderr, "switchyard bench moe: %s: %s\n", what, cudaGetErrorString(err));
  return false;
}
bool Ok(const std::string& err) {
  if (err.empty()) return true;
  std::fprintf(stderr, "switchyard bench moe: %s\n", err.c_str());
  return false;
}

DevicePtr Allocate(size_t bytes) {
  void* p = nullptr;
  if (!Ok(cudaMalloc(&p, std::max<size_t>(bytes, 1)), "cudaMalloc")) return nullptr;
  return DevicePtr(p);
}

struct Measured {
  double micros = 0;        // per layer
  double weight_bytes = 0;  // expert weights touched per layer (mean over variants)
  double flops = 0;
  std::string path;
  bool fp8_math = false;  // w8a8: the fp8 matmul peak bounds it
};

// "decode/N": the decode kernels with N tiles of 8 tokens per expert block.
constexpr const char* kDecodeNames[9] = {"decode", "decode/1", "decode/2", "",        "decode/4",
                                         "",       "",         "",         "decode/8"};

// One shape's weights on the device, in `format`, and the view the layer reads them through.
struct Weights {
  DevicePtr gate_up, down, scales, zeros, table;
  k::MoeWeightsView view;
};

// Bytes of one expert's weights as the kernels read them: values, f32 scales, u8 zero points.
double ExpertBytes(const ModelShape& s, k::MoeWeightFormat format) {
  const int64_t h = s.hidden, i = s.intermediate;
  const int64_t scales = k::MoeScaleCount(format, 2 * i, h) + k::MoeScaleCount(format, h, i);
  const int64_t zero_bytes = format == k::MoeWeightFormat::kU4Group128 ? scales : 0;
  return static_cast<double>(k::MoeMatrixBytes(format, 2 * i, h) + k::MoeMatrixBytes(format, h, i) +
                             sizeof(float) * scales + zero_bytes);
}

// n weights of `format` at `values`.
bool FillValues(void* values, int64_t n, float scale, uint64_t seed, k::MoeWeightFormat format,
                cudaStream_t stream) {
  auto* bytes = static_cast<uint8_t*>(values);
  switch (format) {
    case k::MoeWeightFormat::kFp8Block128:
      return Ok(k::LaunchFillUniformFp8E4M3(bytes, n, seed, stream));
    case k::MoeWeightFormat::kU4Group128:
      return Ok(k::LaunchFillRandomBytes(bytes, n / 2, 0xff, seed, stream));
    default:
      return Ok(k::LaunchFillUniformBF16(static_cast<uint16_t*>(values), n, scale, seed, stream));
  }
}

bool MakeWeights(const ModelShape& s, k::MoeWeightFormat format, cudaStream_t stream, Weights& w) {
  const int64_t h = s.hidden, i = s.intermediate, e = s.experts;
  const int64_t gu = k::MoeMatrixBytes(format, 2 * i, h), dn = k::MoeMatrixBytes(format, h, i);
  const int64_t gu_scales = k::MoeScaleCount(format, 2 * i, h);
  const int64_t dn_scales = k::MoeScaleCount(format, h, i);
  const bool u4 = format == k::MoeWeightFormat::kU4Group128;
  w.gate_up = Allocate(gu * e);
  w.down = Allocate(dn * e);
  w.scales = Allocate(sizeof(float) * (gu_scales + dn_scales) * e);
  w.zeros = Allocate(u4 ? (gu_scales + dn_scales) * e : 0);
  w.table = Allocate(sizeof(void*) * 6 * e);
  if (!w.gate_up || !w.down || !w.scales || !w.zeros || !w.table) return false;
  // Uniform weights at the scale of trained layers: bf16 directly; fp8 as uniform e4m3 codes
  // times scales of |w|max / 448; int4 as uniform nibbles and zero points times |w|max / 8 (the
  // scales' signs are random, which changes no timing).
  const float gu_max = std::sqrt(3.0f / h), dn_max = std::sqrt(3.0f / i);
  const float qmax = u4 ? 8.0f : 448.0f;
  auto* scales = static_cast<float*>(w.scales.get());
  auto* zeros = static_cast<uint8_t*>(w.zeros.get());
  if (!FillValues(w.gate_up.get(), 2 * i * h * e, gu_max, 1, format, stream) ||
      !FillValues(w.down.get(), h * i * e, dn_max, 2, format, stream) ||
      !Ok(k::LaunchFillUniformF32(scales, gu_scales * e, gu_max / qmax, 5, stream)) ||
      !Ok(k::LaunchFillUniformF32(scales + gu_scales * e, dn_scales * e, dn_max / qmax, 6,
                                  stream)) ||
      (u4 && !Ok(k::LaunchFillRandomBytes(zeros, (gu_scales + dn_scales) * e, 0x0f, 7, stream)))) {
    return false;
  }
  // Per expert in turn: gate_up, down, gate_up scales, down scales, gate_up zeros, down zeros.
  std::vector<const void*> table;
  for (int64_t x = 0; x < e; ++x) table.push_back(static_cast<char*>(w.gate_up.get()) + gu * x);
  for (int64_t x = 0; x < e; ++x) table.push_back(static_cast<char*>(w.down.get()) + dn * x);
  for (int64_t x = 0; x < e; ++x) table.push_back(scales + gu_scales * x);
  for (int64_t x = 0; x < e; ++x) table.push_back(scales + gu_scales * e + dn_scales * x);
  for (int64_t x = 0; x < e; ++x) table.push_back(zeros + gu_scales * x);
  for (int64_t x = 0; x < e; ++x) table.push_back(zeros + gu_scales * e + dn_scales * x);
  const auto* t = static_cast<const void* const*>(w.table.get());
  w.view = {t, t + e};
  w.view.format = format;
  if (format != k::MoeWeightFormat::kBf16) {
    w.view.gate_up_scales = reinterpret_cast<const float* const*>(t + 2 * e);
    w.view.down_scales = reinterpret_cast<const float* const*>(t + 3 * e);
  }
  if (u4) {
    w.view.gate_up_zeros = reinterpret_cast<const uint8_t* const*>(t + 4 * e);
    w.view.down_zeros = reinterpret_cast<const uint8_t* const*>(t + 5 * e);
  }
  return Ok(cudaMemcpyAsync(w.table.get(), table.data(), sizeof(void*) * table.size(),
                            cudaMemcpyHostToDevice, stream),
            "upload") &&
         Ok(cudaStreamSynchronize(stream), "fill");
}

// Captures kVariants layers in a graph and times its replays; median of 5 rounds.
bool MeasureLayer(const ModelShape& s, int64_t tokens, const Weights& w, cudaStream_t stream,
                  int min_replays, const k::MoePlanOptions& options, Measured& m) {
  const k::MoeProblem problem{tokens, s.experts, s.top_k, s.hidden, s.intermediate};
  const k::MoePlan plan = k::PlanMoe(problem, options);
  m.path = plan.path == k::MoePath::kDecode ? kDecodeNames[plan.token_tiles]
           : plan.fp8_activations           ? "prefill/w8a8"
           : plan.block_m == 64             ? "prefill/64"
           : plan.block_m == 256            ? "prefill/256"
           : plan.prefill_half_tiles        ? "prefill/128+64"
                                            : "prefill";
  if (plan.path == k::MoePath::kDecode &&
      (plan.gate_up_row_groups != 1 || plan.down_row_groups != 1)) {
    absl::StrAppend(&m.path, " r", plan.gate_up_row_groups, "/", plan.down_row_groups);
  }
  m.fp8_math = plan.fp8_activations;
  DevicePtr x = Allocate(sizeof(uint16_t) * tokens * s.hidden);
  DevicePtr logits = Allocate(sizeof(float) * kVariants * tokens * s.experts);
  DevicePtr out = Allocate(sizeof(float) * tokens * s.hidden);
  DevicePtr workspace = Allocate(plan.workspace_bytes);
  DevicePtr counts = Allocate(sizeof(int32_t) * kVariants * s.experts);
  if (!x || !logits || !out || !workspace || !counts) return false;
  if (!Ok(k::LaunchFillUniformBF16(static_cast<uint16_t*>(x.get()), tokens * s.hidden, 1.0f, 3,
                                   stream)) ||
      !Ok(k::LaunchFillUniformF32(static_cast<float*>(logits.get()), kVariants * tokens * s.experts,
                                  2.0f, 4, stream)) ||
      !Ok(k::InitMoeWorkspace(workspace.get(), stream))) {
    return false;
  }
  cudaGraph_t graph;
  if (!Ok(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture"))
    return false;
  for (int v = 0; v < kVariants; ++v) {
    k::MoeLayerArgs args;
    args.x = x.get();
    args.routing.logits = static_cast<const float*>(logits.get()) + v * tokens * s.experts;
    args.weights = w.view;
    args.out = static_cast<float*>(out.get());
    args.workspace = workspace.get();
    args.expert_counts = static_cast<int32_t*>(counts.get()) + v * s.experts;
    const std::string err = k::LaunchMoeLayer(problem, plan, args, stream);
    if (!err.empty()) {
      cudaStreamEndCapture(stream, &graph);
      return Ok(err);
    }
  }
  if (!Ok(cudaStreamEndCapture(stream, &graph), "end capture")) return false;
  cudaGraphExec_t exec;
  if (!Ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate")) return false;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  bool ok =
      Ok(cudaGraphLaunch(exec, stream), "warm-up") && Ok(cudaStreamSynchronize(stream), "warm-up");
  // Replays per round: about 40 ms of work, at least min_replays.
  float first_ms = 0;
  ok = ok && Ok(cudaEventRecord(start, stream), "event") &&
       Ok(cudaGraphLaunch(exec, stream), "replay") && Ok(cudaEventRecord(stop, stream), "event") &&
       Ok(cudaEventSynchronize(stop), "replay");
  cudaEventElapsedTime(&first_ms, start, stop);
  const int replays =
      std::clamp(static_cast<int>(40.0 / std::max(first_ms, 1e-3f)), min_replays, 200);
  std::vector<double> per_layer;
  for (int round = 0; ok && round < 5; ++round) {
    ok = Ok(cudaEventRecord(start, stream), "event");
    for (int r = 0; ok && r < replays; ++r) ok = Ok(cudaGraphLaunch(exec, stream), "replay");
    ok = ok && Ok(cudaEventRecord(stop, stream), "event") &&
         Ok(cudaEventSynchronize(stop), "replay");
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    per_layer.push_back(1e3 * ms / (replays * kVariants));
  }
  std::sort(per_layer.begin(), per_layer.end());
  if (ok) m.micros = per_layer[per_layer.size() / 2];
  std::vector<int32_t> host_counts(kVariants * s.experts);
  ok = ok && Ok(cudaMemcpy(host_counts.data(), counts.get(), sizeof(int32_t) * host_counts.size(),
                           cudaMemcpyDeviceToHost),
                "counts");
  int64_t touched = 0;
  for (int32_t c : host_counts) touched += c > 0;
  m.weight_bytes = static_cast<double>(touched) / kVariants * ExpertBytes(s, w.view.format);
  m.flops = 6.0 * tokens * s.top_k * s.hidden * s.intermediate;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return ok;
}

// Runs the torch reference; fills µs per token count (eager, and from a CUDA graph when torch
// could capture it). Prints why when it cannot run.
struct TorchTimes {
  double eager = 0, graph = 0;
};
std::map<int64_t, TorchTimes> RunTorch(const ModelShape& s, const std::string& tokens) {
  std::map<int64_t, TorchTimes> result;
  const std::string script = ReferenceScript("torch_moe_reference.py");
  if (script.empty()) {
    std::printf("torch reference: scripts/reference/torch_moe_reference.py not found\n");
    return result;
  }
  const std::string command =
      absl::StrCat("python3 '", script, "' --shape ", s.name, " --tokens ", tokens, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::printf("torch reference: cannot run python3\n");
    return result;
  }
  std::array<char, 4096> line;
  std::string notes;
  while (std::fgets(line.data(), line.size(), pipe) != nullptr) {
    // "result TOKENS EAGER_US GRAPH_US" lines; anything else is passed through.
    std::vector<std::string> f = absl::StrSplit(absl::StripAsciiWhitespace(line.data()), ' ');
    int64_t t = 0;
    double eager = 0, graph = 0;
    if (f.size() == 4 && f[0] == "result" && absl::SimpleAtoi(f[1], &t) &&
        absl::SimpleAtod(f[2], &eager) && absl::SimpleAtod(f[3], &graph)) {
      result[t] = {eager, graph};
    } else {
      notes += absl::StrCat("  torch: ", line.data());
    }
  }
  const int status = pclose(pipe);
  if (!notes.empty()) std::printf("%s", notes.c_str());
  if (status != 0 && result.empty())
    std::printf("torch reference: exited with status %d\n", status);
  return result;
}

absl::StatusOr<std::vector<int64_t>> ParseTokens(const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1)
      return absl::InvalidArgumentError(absl::StrCat("bad token count '", part, "'"));
    values.push_back(v);
  }
  return values;
}

}  // namespace

int BenchMoeCuda(const ParsedArgs& args) {
  const std::string dtype = args.Get("dtype", "bf16");
  if (dtype != "bf16" && dtype != "fp8" && dtype != "int4") {
    return UsageError("bench",
                      "--device cuda: --dtype bf16, fp8 (e4m3, 128x128 block scales) or int4 "
                      "(u4, groups of 128 with zero points)");
  }
  const k::MoeWeightFormat format = dtype == "fp8"    ? k::MoeWeightFormat::kFp8Block128
                                    : dtype == "int4" ? k::MoeWeightFormat::kU4Group128
                                                      : k::MoeWeightFormat::kBf16;
  const std::string tokens_text = args.Get("tokens", "1,16,64,256,4096");
  auto tokens = ParseTokens(tokens_text);
  if (!tokens.ok()) return UsageError("bench", tokens.status().message());
  std::vector<const ModelShape*> shapes;
  for (absl::string_view name : absl::StrSplit(args.Get("shape", "all"), ',')) {
    for (const ModelShape& s : kShapes) {
      if (name == "all" || name == s.name) shapes.push_back(&s);
    }
  }
  if (shapes.empty())
    return UsageError("bench", "--shape: mixtral-8x7b, qwen3-30b-a3b, deepseek-v3 or all");
  const std::string torch = args.Get("torch", "auto");
  k::MoePlanOptions options;
  const std::string path = args.Get("path", "auto");
  if (path == "decode") options.path = k::MoePath::kDecode;
  if (path == "prefill") options.path = k::MoePath::kPrefill;
  if (path != "auto" && !options.path)
    return UsageError("bench", "--path: auto, decode or prefill");
  const absl::StatusOr<int64_t> token_tiles = args.GetInt("token-tiles", 0, 0);
  if (!token_tiles.ok()) return UsageError("bench", token_tiles.status().message());
  if (*token_tiles != 0 && *token_tiles != 1 && *token_tiles != 2 && *token_tiles != 4 &&
      *token_tiles != 8) {
    return UsageError("bench",
                      absl::StrCat("--token-tiles: 0 (from the batch), 1, 2, 4 or 8, got '",
                                   args.Get("token-tiles"), "'"));
  }
  options.token_tiles = static_cast<int32_t>(*token_tiles);
  const std::string half_tiles = args.Get("half-tiles", "auto");
  if (half_tiles != "auto" && half_tiles != "on" && half_tiles != "off") {
    return UsageError("bench",
                      "--half-tiles: auto, on (blocks of <= 64 slots on the 64-slot "
                      "tile) or off");
  }
  if (half_tiles != "auto") options.prefill_half_tiles = half_tiles == "on";
  // --row-groups R (both GEMMs) or G/D (gate_up's, down's).
  const std::vector<std::string> row_groups = absl::StrSplit(args.Get("row-groups", "0"), '/');
  auto valid_groups = [](const std::string& text, int32_t& groups) {
    return absl::SimpleAtoi(text, &groups) && (groups == 0 || k::IsPow2UpTo8(groups));
  };
  if (row_groups.size() > 2 || !valid_groups(row_groups.front(), options.gate_up_row_groups) ||
      !valid_groups(row_groups.back(), options.down_row_groups)) {
    return UsageError("bench", "--row-groups: R or G/D, each 0 (from the GEMM's K), 1, 2, 4 or 8");
  }
  options.programmatic_launch = args.Get("pdl", "on") != "off";
  options.format = format;
  const std::string fp8_activations = args.Get("fp8-activations", "on");
  if (fp8_activations != "on" && fp8_activations != "off")
    return UsageError("bench", "--fp8-activations: on (w8a8 prefill) or off (w8a16)");
  options.fp8_activations = fp8_activations == "on";
  const absl::StatusOr<int64_t> block_m = args.GetInt("block-m", 0, 0);
  if (!block_m.ok()) return UsageError("bench", block_m.status().message());
  if (*block_m != 0 && *block_m != 64 && *block_m != 128 && *block_m != 256) {
    return UsageError("bench", absl::StrCat("--block-m: 0 (the kernel's own), or for bf16 prefill "
                                            "256 (tiles fitted to each block), 128 or 64, got '",
                                            args.Get("block-m"), "'"));
  }
  options.prefill_block_m = static_cast<int32_t>(*block_m);
  if (!valid_groups(args.Get("raster-group", "0"), options.prefill_raster_group)) {
    return UsageError("bench", "--raster-group: 0 (from blocks per expert), 1, 2, 4 or 8");
  }
  const absl::StatusOr<int64_t> min_replays = args.GetInt("iterations", 3, 1);
  if (!min_replays.ok()) return UsageError("bench", min_replays.status().message());

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "switchyard bench moe: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0;
  cudaDriverGetVersion(&driver);
  std::printf(
      "%s, %d SMs, %.0f GiB, driver %d. %s weights, whole layer (routing from logits, align,\n"
      "gate_up + SwiGLU, down, combine) replayed from a CUDA graph of %d layers with different\n"
      "routing. WEIGHTS TB/S = bytes of the experts touched (values and scales) / time. Roofline\n"
      "= max(bytes / %.1f TB/s, FLOPs / %.0f TFLOP/s).\n",
      prop.name, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0, driver,
      format == k::MoeWeightFormat::kBf16 ? "bf16"
      : format == k::MoeWeightFormat::kFp8Block128
          ? "fp8 e4m3 (128x128 f32 block scales). Decode dequantizes them to bf16 (w8a16);\n"
            "prefill/w8a8 quantizes activations per token and 128 channels and multiplies\n"
            "e4m3 x e4m3 (its roofline: twice the bf16 matmul peak; --fp8-activations off\n"
            "keeps prefill w8a16)"
          : "int4 (groups of 128, f32 scales and u8 zero points, dequantized to bf16 in the\n"
            "decode kernels, which run every batch size: w4a16; activations bf16)",
      kVariants, kHbmBytesPerSecond / 1e12, kMatrixFlopsPerSecond / 1e12);
  cudaStream_t stream;
  if (!Ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream")) return 1;
  int status = 0;
  for (const ModelShape* s : shapes) {
    std::printf("\n== %s: E=%d, H=%lld, I=%lld, top-%d\n", s->name, s->experts,
                static_cast<long long>(s->hidden), static_cast<long long>(s->intermediate),
                s->top_k);
    std::vector<Measured> measured;
    {
      Weights w;
      if (!MakeWeights(*s, format, stream, w)) return 1;
      for (int64_t t : *tokens) {
        Measured m;
        if (!MeasureLayer(*s, t, w, stream, static_cast<int>(*min_replays), options, m)) return 1;
        measured.push_back(m);
      }
    }  // weights freed before torch allocates its own
    std::map<int64_t, TorchTimes> reference;
    // The torch reference multiplies bf16 weights: beside fp8 it would compare two formats.
    if (torch != "off" && format == k::MoeWeightFormat::kBf16)
      reference = RunTorch(*s, tokens_text);
    TextTable table({"TOKENS", "PATH", "LAYER US", "WEIGHTS TB/S", "TFLOP/S", "% ROOFLINE",
                     "TORCH US", "TORCH GRAPH US", "SPEEDUP"});
    for (size_t i = 0; i < tokens->size(); ++i) {
      const Measured& m = measured[i];
      const double seconds = m.micros * 1e-6;
      const double roofline =
          std::max(m.weight_bytes / kHbmBytesPerSecond,
                   m.flops / (m.fp8_math ? kFp8MatrixFlopsPerSecond : kMatrixFlopsPerSecond));
      std::string eager = "-", graph = "-", speedup = "-";
      if (auto it = reference.find((*tokens)[i]); it != reference.end()) {
        eager = absl::StrFormat("%.1f", it->second.eager);
        double best = it->second.eager;
        if (it->second.graph > 0) {
          graph = absl::StrFormat("%.1f", it->second.graph);
          best = std::min(best, it->second.graph);
        }
        speedup = absl::StrFormat("%.2fx", best / m.micros);
      }
      table.AddRow({absl::StrCat((*tokens)[i]), m.path, absl::StrFormat("%.1f", m.micros),
                    absl::StrFormat("%.2f", m.weight_bytes / seconds / 1e12),
                    absl::StrFormat("%.1f", m.flops / seconds / 1e12),
                    absl::StrFormat("%.1f%%", 100.0 * roofline / seconds), eager, graph, speedup});
    }
    std::printf("%s", table.Render().c_str());
    std::fflush(stdout);
  }
  cudaStreamDestroy(stream);
  return status;
}

}  // namespace sy::cli
