// switchyard bench gemv: the dense projections of decode (q/k/v, o_proj, MLA's projections, the
// LM head) at 1..16 rows on the GPU: sm90_gemv_bf16 (what the model runs at <= 16 rows) beside
// cuBLAS's cublasGemmEx on the same shape in the same run (what it ran before), as weight TB/s
// against the H200's 4.8 TB/s.
//
// Each shape gets enough copies of its weight to span 512 MB, and one CUDA graph runs the GEMM
// once on each copy in turn, so no replay finds its weight in the 50 MB L2 (Mixtral's qkv is
// 50 MB, o_proj 34 MB). Time per GEMM = the replay's time / copies, median of 5 rounds. The
// two outputs are compared too: their largest difference relative to the largest |value|.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/moe_cuda.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

namespace k = sy::kernels;

constexpr double kHbmBytesPerSecond = 4.8e12;  // H200 nominal
constexpr double kSpanBytes = 512e6;           // weight copies per graph: 10x the L2

struct GemvShape {
  const char* model;
  const char* name;
  int64_t n, k;
};

constexpr GemvShape kShapes[] = {
    {"mixtral-8x7b", "qkv", 6144, 4096},      {"mixtral-8x7b", "o_proj", 4096, 4096},
    {"mixtral-8x7b", "lm_head", 32000, 4096}, {"qwen3-30b-a3b", "qkv", 5120, 2048},
    {"qwen3-30b-a3b", "o_proj", 2048, 4096},  {"qwen3-30b-a3b", "lm_head", 151936, 2048},
    {"deepseek-v3", "q_a", 1536, 7168},       {"deepseek-v3", "q_b", 24576, 1536},
    {"deepseek-v3", "kv_a", 576, 7168},       {"deepseek-v3", "o_proj", 7168, 16384},
    {"deepseek-v3", "lm_head", 129280, 7168},
};

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, DeviceFree>;

bool Ok(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return true;
  std::fprintf(stderr, "switchyard bench gemv: %s: %s\n", what, cudaGetErrorString(err));
  return false;
}
bool Ok(const std::string& err) {
  if (err.empty()) return true;
  std::fprintf(stderr, "switchyard bench gemv: %s\n", err.c_str());
  return false;
}
bool Ok(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return true;
  std::fprintf(stderr, "switchyard bench gemv: %s: cuBLAS status %d\n", what,
               static_cast<int>(status));
  return false;
}

DevicePtr Allocate(size_t bytes) {
  void* p = nullptr;
  if (!Ok(cudaMalloc(&p, std::max<size_t>(bytes, 1)), "cudaMalloc")) return nullptr;
  return DevicePtr(p);
}

// Captures `copies` calls of `one(copy)` in a graph and returns µs per call (median of 5 rounds
// of about 40 ms each), or a negative value on failure.
double TimePerCall(cudaStream_t stream, int copies, const std::function<bool(int)>& one) {
  cudaGraph_t graph;
  if (!Ok(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture")) return -1;
  bool ok = true;
  for (int c = 0; ok && c < copies; ++c) ok = one(c);
  if (!Ok(cudaStreamEndCapture(stream, &graph), "end capture") || !ok) return -1;
  cudaGraphExec_t exec;
  if (!Ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate")) return -1;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  ok = Ok(cudaGraphLaunch(exec, stream), "warm-up") && Ok(cudaStreamSynchronize(stream), "warm-up");
  float first_ms = 0;
  ok = ok && Ok(cudaEventRecord(start, stream), "event") &&
       Ok(cudaGraphLaunch(exec, stream), "replay") && Ok(cudaEventRecord(stop, stream), "event") &&
       Ok(cudaEventSynchronize(stop), "replay");
  cudaEventElapsedTime(&first_ms, start, stop);
  const int replays = std::clamp(static_cast<int>(40.0 / std::max(first_ms, 1e-3f)), 3, 500);
  std::vector<double> per_call;
  for (int round = 0; ok && round < 5; ++round) {
    ok = Ok(cudaEventRecord(start, stream), "event");
    for (int r = 0; ok && r < replays; ++r) ok = Ok(cudaGraphLaunch(exec, stream), "replay");
    ok = ok && Ok(cudaEventRecord(stop, stream), "event") &&
         Ok(cudaEventSynchronize(stop), "replay");
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    per_call.push_back(1e3 * ms / (static_cast<double>(replays) * copies));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  if (!ok) return -1;
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

struct Result {
  double gemv_us = 0, cublas_us = 0, max_diff = 0;
};

bool Measure(const GemvShape& s, int64_t rows, int splits, cublasHandle_t blas, cudaStream_t stream,
             Result& result) {
  const double weight_bytes = 2.0 * s.n * s.k;
  const int copies = static_cast<int>(std::max(1.0, std::ceil(kSpanBytes / weight_bytes)));
  DevicePtr w = Allocate(static_cast<size_t>(weight_bytes) * copies);
  DevicePtr x = Allocate(sizeof(uint16_t) * rows * s.k);
  DevicePtr out_gemv = Allocate(sizeof(float) * rows * s.n);
  DevicePtr out_blas = Allocate(sizeof(float) * rows * s.n);
  if (!w || !x || !out_gemv || !out_blas) return false;
  auto* w16 = static_cast<uint16_t*>(w.get());
  const auto* x16 = static_cast<const uint16_t*>(x.get());
  const int64_t per_copy = s.n * s.k;
  // Weights at the scale of a trained layer (1/sqrt(k)), activations of RMS about 1.
  if (!Ok(k::LaunchFillUniformBF16(w16, per_copy * copies, 1.0f / std::sqrt(s.k), 1, stream)) ||
      !Ok(k::LaunchFillUniformBF16(static_cast<uint16_t*>(x.get()), rows * s.k, 1.7f, 2, stream))) {
    return false;
  }
  const std::string check = k::CheckGemvBF16(x16, rows, s.k, w16, s.n);
  if (!check.empty()) return Ok(check);
  auto* og = static_cast<float*>(out_gemv.get());
  auto* ob = static_cast<float*>(out_blas.get());
  result.gemv_us = TimePerCall(stream, copies, [&](int c) {
    return Ok(k::LaunchGemvBF16(x16, rows, s.k, w16 + c * per_copy, s.n, og, 0.0f, stream, splits));
  });
  // The model's cuBLAS call (core/model/cuda_network.cc, Gemm).
  const float alpha = 1.0f, beta = 0.0f;
  result.cublas_us = TimePerCall(stream, copies, [&](int c) {
    return Ok(
        cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.n), static_cast<int>(rows),
                     static_cast<int>(s.k), &alpha, w16 + c * per_copy, CUDA_R_16BF,
                     static_cast<int>(s.k), x16, CUDA_R_16BF, static_cast<int>(s.k), &beta, ob,
                     CUDA_R_32F, static_cast<int>(s.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
  });
  if (result.gemv_us < 0 || result.cublas_us < 0) return false;
  // Both graphs ended on the last copy: the two outputs are the same product.
  std::vector<float> a(rows * s.n), b(rows * s.n);
  if (!Ok(cudaMemcpy(a.data(), og, sizeof(float) * a.size(), cudaMemcpyDeviceToHost), "copy") ||
      !Ok(cudaMemcpy(b.data(), ob, sizeof(float) * b.size(), cudaMemcpyDeviceToHost), "copy")) {
    return false;
  }
  double peak = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    peak = std::max(peak, static_cast<double>(std::abs(b[i])));
    diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
  }
  result.max_diff = peak > 0 ? diff / peak : diff;
  return true;
}

}  // namespace

int BenchGemv(const ParsedArgs& args) {
  std::vector<int64_t> rows;
  for (absl::string_view part : absl::StrSplit(args.Get("tokens", "1,4,16"), ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1 || v > k::kGemvBF16MaxRows) {
      return UsageError("bench", absl::StrCat("gemv: --tokens takes counts from 1 to ",
                                              k::kGemvBF16MaxRows, ", not '", part, "'"));
    }
    rows.push_back(v);
  }
  const std::string shape = args.Get("shape", "all");
  std::vector<const GemvShape*> shapes;
  for (absl::string_view name : absl::StrSplit(shape, ',')) {
    for (const GemvShape& s : kShapes) {
      if (name == "all" || name == s.model) shapes.push_back(&s);
    }
  }
  if (shapes.empty())
    return UsageError("bench", "gemv: --shape mixtral-8x7b, qwen3-30b-a3b, deepseek-v3 or all");
  int splits = 0;
  if (!absl::SimpleAtoi(args.Get("splits", "0"), &splits) ||
      (splits != 0 && splits != 1 && splits != 2 && splits != 4 && splits != 8)) {
    return UsageError("bench", "gemv: --splits 0 (from the shape), 1, 2, 4 or 8");
  }

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "switchyard bench gemv: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf(
      "%s, %d SMs. out f32 [T, N] = x bf16 [T, K] . w bf16 [N, K]^T, each GEMM on its own\n"
      "copy of w (%.0f MB of copies a CUDA graph), median of 5 rounds. TB/S = weight bytes /\n"
      "time; %% HBM of %.1f TB/s. CUBLAS: cublasGemmEx as the model called it before.\n"
      "MAX DIFF: largest |gemv - cublas| / largest |cublas|.\n",
      prop.name, prop.multiProcessorCount, kSpanBytes / 1e6, kHbmBytesPerSecond / 1e12);
  cudaStream_t stream;
  if (!Ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream")) return 1;
  cublasHandle_t blas;
  if (!Ok(cublasCreate(&blas), "cublasCreate")) return 1;
  constexpr size_t kBlasWorkspace = size_t{32} << 20;  // the model's, so capture allocates nothing
  DevicePtr workspace = Allocate(kBlasWorkspace);
  if (!workspace || !Ok(cublasSetStream(blas, stream), "cublasSetStream") ||
      !Ok(cublasSetWorkspace(blas, workspace.get(), kBlasWorkspace), "cublasSetWorkspace")) {
    return 1;
  }
  TextTable table({"MODEL", "GEMM", "N", "K", "MB", "TOKENS", "GEMV US", "TB/S", "% HBM",
                   "CUBLAS US", "CUBLAS TB/S", "SPEEDUP", "MAX DIFF"});
  int status = 0;
  for (const GemvShape* s : shapes) {
    for (int64_t t : rows) {
      Result r;
      if (!Measure(*s, t, splits, blas, stream, r)) {
        status = 1;
        continue;
      }
      const double bytes = 2.0 * s->n * s->k;
      const double tbs = bytes / (r.gemv_us * 1e-6) / 1e12;
      table.AddRow({s->model, s->name, absl::StrCat(s->n), absl::StrCat(s->k),
                    absl::StrFormat("%.1f", bytes / 1e6), absl::StrCat(t),
                    absl::StrFormat("%.2f", r.gemv_us), absl::StrFormat("%.2f", tbs),
                    absl::StrFormat("%.1f%%", 100.0 * tbs * 1e12 / kHbmBytesPerSecond),
                    absl::StrFormat("%.2f", r.cublas_us),
                    absl::StrFormat("%.2f", bytes / (r.cublas_us * 1e-6) / 1e12),
                    absl::StrFormat("%.2fx", r.cublas_us / r.gemv_us),
                    absl::StrFormat("%.1e", r.max_diff)});
    }
  }
  std::printf("%s", table.Render().c_str());
  cublasDestroy(blas);
  cudaStreamDestroy(stream);
  return status;
}

}  // namespace sy::cli
