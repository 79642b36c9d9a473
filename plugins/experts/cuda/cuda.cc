// experts.cuda: the MoE experts on an NVIDIA GPU through the kernels of kernels/moe (alignment
// by expert, grouped GEMM gate_up with SwiGLU, grouped GEMM down with the router weights,
// combine). Weights are bf16, fp8 e4m3 with f32 scales per 128 x 128 block (quantizer.fp8 with
// granularity = block, block = 128, activations = weightOnly), or int4 in groups of 128 with
// scales and zero points (quantizer.int4, group = 128), dequantized to bf16 inside the kernels
// (w8a16 / w4a16: a half or a quarter of the bytes streamed, the same bf16 math; int4 runs the
// decode kernels at every batch size). Activations are rounded to bf16
// for the tensor cores, as in vLLM and torch; accumulation is f32.
//
// With cacheExperts > 0, bf16 experts in host memory stay there behind a GPU cache of that many
// experts per layer, filled on demand and by prefetch hints (expert_cache.h,
// docs/expert-offload.md).
//
// Tensors on the device are used in place, on the call's stream, with no host round trip (a
// forward can be captured in a CUDA graph once its weights have been seen by a first call).
// Tensors on the host (a CPU context: tests, the conformance suite) are staged through device
// memory and the call waits for the result.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cuda.capnp.h"
#include "device_buffer.h"
#include "expert_cache.h"
#include "kernels/moe/moe_cuda.h"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

using kernels::MoeLayerArgs;
using kernels::MoePlan;
using kernels::MoePlanOptions;
using kernels::MoeProblem;

bool OnDevice(const sy_tensor& t) { return t.device.type == SY_DEVICE_CUDA; }

void Require(const sy_tensor& t, const char* what, int rank, DType dtype) {
  const TensorView v(t);
  if (v.ndim() != rank || v.dtype() != dtype || !v.is_contiguous()) {
    throw std::invalid_argument(std::string(what) + ": expected a contiguous " +
                                std::string(DTypeName(dtype)) + " tensor of rank " +
                                std::to_string(rank) + ", got " + v.Describe());
  }
}

// The kernels' weight format of a layout, if they have one: bf16, or fp8 e4m3 with f32 scales
// per 128 x 128 block (quantizer.fp8 with granularity = block, block = 128).
std::optional<kernels::MoeWeightFormat> FormatOf(const sy_qlayout& layout) {
  if (layout.dtype == SY_DTYPE_BF16 && !layout.has_scales && !layout.has_zeros)
    return kernels::MoeWeightFormat::kBf16;
  if (layout.dtype == SY_DTYPE_FP8_E4M3 && layout.has_scales && !layout.has_zeros &&
      layout.block_rows == kernels::kMoeFp8Block && layout.block_cols == kernels::kMoeFp8Block)
    return kernels::MoeWeightFormat::kFp8Block128;
  if (layout.dtype == SY_DTYPE_U4 && layout.has_scales && layout.has_zeros &&
      layout.block_rows == 1 && layout.block_cols == kernels::kMoeU4Group)
    return kernels::MoeWeightFormat::kU4Group128;
  return std::nullopt;
}

// What the refusals of other weight layouts say.
constexpr char kFormats[] =
    "experts.cuda computes on bf16 weights, fp8 e4m3 with 128x128 block scales or int4 in groups "
    "of 128";

// Checks one [rows, cols] matrix is stored as `format` with the shapes the kernels read.
void RequireMatrix(const sy_qtensor& q, kernels::MoeWeightFormat format, int64_t rows, int64_t cols,
                   const std::string& what) {
  if (FormatOf(q.layout) != format) {
    throw PluginError(SY_UNIMPLEMENTED, what + ": " + kFormats + ", all experts alike");
  }
  const bool fp8 = format == kernels::MoeWeightFormat::kFp8Block128;
  const bool u4 = format == kernels::MoeWeightFormat::kU4Group128;
  Require(q.values, what.c_str(), 2, fp8 ? DType::kFP8E4M3 : u4 ? DType::kU4 : DType::kBF16);
  if (q.values.shape[0] != rows || q.values.shape[1] != cols) {
    throw std::invalid_argument(what + " must be [" + std::to_string(rows) + ", " +
                                std::to_string(cols) + "], got " + TensorView(q.values).Describe());
  }
  if (!fp8 && !u4) return;
  const std::string scales = what + " scales";
  Require(q.scales, scales.c_str(), 2, DType::kF32);
  if (u4) {
    if (cols % kernels::kMoeU4Group != 0)
      throw std::invalid_argument(what + ": int4 weights need columns in whole groups of 128");
    const std::string zeros = what + " zero points";
    Require(q.zeros, zeros.c_str(), 2, DType::kU8);
    if (q.scales.shape[0] != rows || q.scales.shape[1] != cols / kernels::kMoeU4Group ||
        q.zeros.shape[0] != rows || q.zeros.shape[1] != cols / kernels::kMoeU4Group)
      throw std::invalid_argument(scales + " and zero points: not [rows, cols / 128]");
    return;
  }
  const int64_t b = kernels::kMoeFp8Block;
  if (q.scales.shape[0] != (rows + b - 1) / b || q.scales.shape[1] != (cols + b - 1) / b)
    throw std::invalid_argument(scales + ": not the 128 x 128 block grid of the matrix");
}

// Tokens routed to each of `experts` by host ids i32 [tokens, k] (-1 and out-of-range skipped).
std::vector<int64_t> TokensPerExpert(const sy_tensor& ids, int32_t experts) {
  std::vector<int64_t> count(experts, 0);
  const auto* p = static_cast<const int32_t*>(ids.data);
  const int64_t n = ids.shape[0] * ids.shape[1];
  for (int64_t s = 0; s < n; ++s) {
    if (p[s] >= 0 && p[s] < experts) ++count[p[s]];
  }
  return count;
}

std::vector<HostExpert> HostExperts(const sy_expert_weights& w) {
  std::vector<HostExpert> host;
  for (int32_t e = 0; e < w.num_experts; ++e)
    host.push_back({w.gate_up[e].values.data, w.down[e].values.data});
  return host;
}

class CudaExperts : public Experts {
 public:
  using Config = CudaExpertsConfig;

  explicit CudaExperts(Config::Reader config)
      : token_tiles_(static_cast<int32_t>(config.getTokenTiles())),
        programmatic_(config.getProgrammaticLaunch()),
        cache_experts_(static_cast<int32_t>(config.getCacheExperts())) {
    if (token_tiles_ != 0 && token_tiles_ != 1 && token_tiles_ != 2 && token_tiles_ != 4 &&
        token_tiles_ != 8) {
      throw std::invalid_argument("tokenTiles must be 0, 1, 2, 4 or 8");
    }
  }

  ~CudaExperts() override {
    if (cache_ != nullptr) {
      const ExpertCacheStats st = cache_->stats();
      Log(SY_LOG_INFO, "experts.cuda",
          "expert cache of " + std::to_string(cache_->capacity()) +
              " slots: " + std::to_string(st.hits) + " hits, " + std::to_string(st.misses) +
              " misses, " + std::to_string(st.prefetched) + " prefetched");
    }
    cache_.reset();
    if (own_stream_ != nullptr) cudaStreamDestroy(own_stream_);
  }

  // Runs only where the host and this library both see a GPU; then it beats experts.cpu.
  static int32_t Score(const sy_host* host) {
    if (host->device_count(SY_DEVICE_CUDA) <= 0 || CudaDeviceCount() <= 0) return 0;
    return 100;
  }

  // bf16 or fp8 block-128 weights, and only where there is a device to run them on (so suites
  // over every plugin skip it on a machine without one).
  bool Supports(const sy_qlayout& layout) const override {
    return FormatOf(layout).has_value() && CudaDeviceCount() > 0;
  }

  void Forward(const ExecContext& ctx, const sy_experts_args& args) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Call call(*this, ctx, args);
    call.Run();
  }

  bool WantsPrefetch() const override { return cache_experts_ > 0; }

  // Host weights behind the cache only: the predicted experts, most tokens first.
  void Prefetch(const ExecContext& /*ctx*/, const sy_expert_weights& w,
                const sy_tensor& expert_ids) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_experts_ == 0 || OnDevice(expert_ids) || w.num_experts <= 0 ||
        OnDevice(w.gate_up[0].values)) {
      return;
    }
    Require(expert_ids, "expert_ids", 2, DType::kI32);
    const std::vector<int64_t> count = TokensPerExpert(expert_ids, w.num_experts);
    std::vector<int32_t> order;
    for (int32_t e = 0; e < w.num_experts; ++e) {
      if (count[e] > 0) order.push_back(e);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return count[a] > count[b]; });
    // Host weights compute on device 0 (Call::WeightDevice), where the cache lives.
    CacheFor(w, 0).Prefetch(order, HostExperts(w));
  }

 private:
  // One forward: checks, staging, launches.
  class Call {
   public:
    Call(CudaExperts& self, const ExecContext& ctx, const sy_experts_args& args)
        : self_(self), ctx_(ctx), args_(args), w_(*args.weights) {}

    ~Call() {
      for (void* p : staged_) cudaFreeAsync(p, stream_);
      if (stream_ != nullptr && !device_call_) cudaStreamSynchronize(stream_);
    }

    void Run() {
      const sy_tensor& hidden = *args_.hidden;
      Require(hidden, "hidden", 2, DType::kF32);
      Require(*args_.expert_ids, "expert_ids", 2, DType::kI32);
      Require(*args_.expert_weights, "expert_weights", 2, DType::kF32);
      Require(*args_.output, "output", 2, DType::kF32);
      const int64_t tokens = hidden.shape[0], k = args_.expert_ids->shape[1];
      if (hidden.shape[1] != w_.hidden || args_.expert_ids->shape[0] != tokens ||
          args_.expert_weights->shape[0] != tokens || args_.expert_weights->shape[1] != k ||
          args_.output->shape[0] != tokens || args_.output->shape[1] != w_.hidden) {
        throw std::invalid_argument("routing and output shapes do not match hidden " +
                                    TensorView(hidden).Describe());
      }
      device_call_ = OnDevice(hidden);
      for (const sy_tensor* t :
           {args_.expert_ids, args_.expert_weights, static_cast<const sy_tensor*>(args_.output)}) {
        if (OnDevice(*t) != device_call_)
          throw std::invalid_argument("hidden, routing and output must all be on one device");
      }
      if (args_.activation_quantizer != nullptr) {
        throw PluginError(SY_UNIMPLEMENTED,
                          "experts.cuda multiplies bf16 activations (fp8 weights are w8a16); "
                          "activation quantizers are not supported (quantizer.fp8: activations = "
                          "\"weightOnly\")");
      }
      problem_ = {tokens, w_.num_experts, static_cast<int32_t>(k), w_.hidden, w_.intermediate};
      if (const std::string why = kernels::CheckMoeProblem(problem_); !why.empty())
        throw std::invalid_argument("experts.cuda: " + why);
      if (w_.num_experts > 0) {
        const auto format = FormatOf(w_.gate_up[0].layout);
        if (!format) {
          throw PluginError(SY_UNIMPLEMENTED, kFormats);
        }
        format_ = *format;
      }
      for (int e = 0; e < w_.num_experts; ++e) {
        RequireMatrix(w_.gate_up[e], format_, 2 * w_.intermediate, w_.hidden,
                      "expert " + std::to_string(e) + " gate_up");
        RequireMatrix(w_.down[e], format_, w_.hidden, w_.intermediate,
                      "expert " + std::to_string(e) + " down");
      }
      if (w_.shared_intermediate > 0) {
        RequireMatrix(*w_.shared_gate_up, format_, 2 * w_.shared_intermediate, w_.hidden,
                      "shared gate_up");
        RequireMatrix(*w_.shared_down, format_, w_.hidden, w_.shared_intermediate, "shared down");
        shared_ = {tokens, 1, 1, w_.hidden, w_.shared_intermediate};
        if (const std::string why = kernels::CheckMoeProblem(shared_); !why.empty())
          throw std::invalid_argument("experts.cuda: shared expert: " + why);
      }
      if (!device_call_) CheckHostIds();
      if (tokens == 0) return;

      device_ = device_call_ ? hidden.device.index : WeightDevice();
      CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
      stream_ = device_call_ && ctx_.device().type == SY_DEVICE_CUDA
                    ? static_cast<cudaStream_t>(ctx_.stream())
                    : self_.OwnStream();
      Launch();
    }

   private:
    // Ids of host routing are checked here; on the device the routing kernel drops them.
    void CheckHostIds() const {
      const auto* ids = static_cast<const int32_t*>(args_.expert_ids->data);
      const int64_t n = problem_.tokens * problem_.top_k;
      for (int64_t s = 0; s < n; ++s) {
        if (ids[s] < -1 || ids[s] >= problem_.experts) {
          throw std::invalid_argument("expert id " + std::to_string(ids[s]) + " of token " +
                                      std::to_string(s / problem_.top_k) + " is outside [0, " +
                                      std::to_string(problem_.experts) + ")");
        }
      }
    }

    int WeightDevice() const {
      for (int e = 0; e < w_.num_experts; ++e) {
        if (OnDevice(w_.gate_up[e].values)) return w_.gate_up[e].values.device.index;
      }
      return 0;
    }

    // Device scratch for this call: the context's workspace when it is on the device, else
    // stream-ordered allocations freed when the call ends.
    void* Scratch(size_t bytes) {
      if (device_call_ && ctx_.device().type == SY_DEVICE_CUDA) return ctx_.Allocate(bytes, 256);
      void* p = nullptr;
      CheckCuda(cudaMallocAsync(&p, std::max<size_t>(bytes, 1), stream_), "cudaMallocAsync");
      staged_.push_back(p);
      return p;
    }

    // The device address of `t`'s data: itself, or a staged copy of a host tensor.
    const void* OnDeviceData(const sy_tensor& t, size_t bytes) {
      if (OnDevice(t)) return t.data;
      void* d = Scratch(bytes);
      CheckCuda(cudaMemcpyAsync(d, t.data, bytes, cudaMemcpyHostToDevice, stream_), "upload");
      return d;
    }

    // Host weights behind the expert cache: the experts the batch routes to, hottest first, in
    // passes of at most the cache's capacity (one when they fit); a pass computes only its
    // experts' slots (the others' ids dropped) and adds into the output.
    void RunCached(std::vector<const void*>& matrices, const MoePlan& plan, MoeLayerArgs& layer) {
      const int64_t E = w_.num_experts, slots = problem_.tokens * problem_.top_k;
      ExpertCache& cache = self_.CacheFor(w_, device_);
      const std::vector<int64_t> count = TokensPerExpert(*args_.expert_ids, w_.num_experts);
      cache.Observe(count);
      std::vector<int32_t> used;
      for (int32_t e = 0; e < E; ++e) {
        if (count[e] > 0) used.push_back(e);
      }
      std::stable_sort(used.begin(), used.end(),
                       [&](int32_t a, int32_t b) { return count[a] > count[b]; });
      const std::vector<HostExpert> host = HostExperts(w_);
      const auto* host_ids = static_cast<const int32_t*>(args_.expert_ids->data);
      const size_t cap = static_cast<size_t>(cache.capacity());
      for (size_t begin = 0; begin == 0 || begin < used.size(); begin += cap) {
        const std::span<const int32_t> group(used.data() + begin,
                                             std::min(cap, used.size() - begin));
        const std::vector<HostExpert> device = cache.Acquire(group, host, stream_);
        std::fill(matrices.begin(), matrices.begin() + 2 * E, nullptr);
        for (size_t i = 0; i < group.size(); ++i) {
          matrices[group[i]] = device[i].gate_up;
          matrices[E + group[i]] = device[i].down;
        }
        const auto* table = self_.PointerTable(matrices, device_, stream_);
        layer.weights = {table, table + E};
        if (used.size() > cap) {  // this pass's experts only
          std::vector<int32_t> masked(host_ids, host_ids + slots);
          for (int32_t& id : masked) {
            if (id >= 0 && std::find(group.begin(), group.end(), id) == group.end()) id = -1;
          }
          auto* d = static_cast<int32_t*>(Scratch(sizeof(int32_t) * slots));
          CheckCuda(cudaMemcpyAsync(d, masked.data(), sizeof(int32_t) * slots,
                                    cudaMemcpyHostToDevice, stream_),
                    "upload");
          layer.routing.ids = d;
        }
        layer.accumulate = begin > 0;
        CheckLaunch(kernels::LaunchMoeLayer(problem_, plan, layer, stream_));
      }
      layer.accumulate = false;
    }

    void Launch() {
      const int64_t T = problem_.tokens, H = w_.hidden, I = w_.intermediate, E = w_.num_experts;
      const auto* hidden =
          static_cast<const float*>(OnDeviceData(*args_.hidden, sizeof(float) * T * H));
      const auto* ids = static_cast<const int32_t*>(
          OnDeviceData(*args_.expert_ids, sizeof(int32_t) * T * problem_.top_k));
      const auto* weights = static_cast<const float*>(
          OnDeviceData(*args_.expert_weights, sizeof(float) * T * problem_.top_k));
      float* out = device_call_ ? static_cast<float*>(args_.output->data)
                                : static_cast<float*>(Scratch(sizeof(float) * T * H));
      // Expert matrices: [gate_up x E, down x E, shared gate_up, shared down], then (fp8) their
      // scales in the same order.
      const int64_t Is = w_.shared_intermediate;
      struct Matrix {
        const sy_qtensor* q;
        int64_t rows, cols;
      };
      std::vector<Matrix> order;
      for (int e = 0; e < E; ++e) order.push_back({&w_.gate_up[e], 2 * I, H});
      for (int e = 0; e < E; ++e) order.push_back({&w_.down[e], H, I});
      if (Is > 0) {
        order.push_back({w_.shared_gate_up, 2 * Is, H});
        order.push_back({w_.shared_down, H, Is});
      }
      // Host weights behind the cache: the routed experts' entries are filled per pass.
      const bool cached = !device_call_ && self_.cache_experts_ > 0;
      if (cached && format_ != kernels::MoeWeightFormat::kBf16) {
        throw PluginError(SY_UNIMPLEMENTED,
                          "experts.cuda: cacheExperts caches bf16 experts only; fp8 and int4 "
                          "experts are staged whole (cacheExperts = 0)");
      }
      std::vector<const void*> matrices;
      for (size_t i = 0; i < order.size(); ++i) {
        const Matrix& m = order[i];
        const bool routed = i < static_cast<size_t>(2 * E);
        matrices.push_back(
            cached && routed
                ? nullptr
                : OnDeviceData(m.q->values, kernels::MoeMatrixBytes(format_, m.rows, m.cols)));
      }
      if (format_ != kernels::MoeWeightFormat::kBf16) {
        for (const Matrix& m : order) {
          matrices.push_back(OnDeviceData(
              m.q->scales, sizeof(float) * kernels::MoeScaleCount(format_, m.rows, m.cols)));
        }
      }
      if (format_ == kernels::MoeWeightFormat::kU4Group128) {
        for (const Matrix& m : order) {
          matrices.push_back(
              OnDeviceData(m.q->zeros, kernels::MoeScaleCount(format_, m.rows, m.cols)));
        }
      }
      const size_t n = order.size();
      // The kernels' view of the experts whose gate_up matrices start at `gate_up_at` of the
      // table and whose downs start at `down_at`.
      auto view = [&](const void* const* table, size_t gate_up_at, size_t down_at) {
        kernels::MoeWeightsView v{table + gate_up_at, table + down_at};
        v.format = format_;
        if (format_ != kernels::MoeWeightFormat::kBf16) {
          v.gate_up_scales = reinterpret_cast<const float* const*>(table + n + gate_up_at);
          v.down_scales = reinterpret_cast<const float* const*>(table + n + down_at);
        }
        if (format_ == kernels::MoeWeightFormat::kU4Group128) {
          v.gate_up_zeros = reinterpret_cast<const uint8_t* const*>(table + 2 * n + gate_up_at);
          v.down_zeros = reinterpret_cast<const uint8_t* const*>(table + 2 * n + down_at);
        }
        return v;
      };

      auto* x = static_cast<uint16_t*>(Scratch(sizeof(uint16_t) * T * H));
      CheckLaunch(kernels::LaunchF32ToBF16(hidden, x, T * H, stream_));

      MoePlanOptions options{std::nullopt, self_.token_tiles_, self_.programmatic_};
      options.format = format_;
      options.fp8_activations = false;  // the weights' quantizer is weight-only (checked above)
      const MoePlan plan = kernels::PlanMoe(problem_, options);
      MoePlan shared_plan;
      size_t workspace_bytes = plan.workspace_bytes;
      if (Is > 0) {
        shared_plan = kernels::PlanMoe(shared_, options);
        workspace_bytes = std::max(workspace_bytes, shared_plan.workspace_bytes);
      }
      void* workspace = self_.Workspace(workspace_bytes, device_, stream_);

      MoeLayerArgs layer;
      layer.x = x;
      layer.routing.ids = ids;
      layer.routing.weights = weights;
      layer.out = out;
      layer.workspace = workspace;
      if (cached) {
        RunCached(matrices, plan, layer);
      } else {
        layer.weights = view(self_.PointerTable(matrices, device_, stream_), 0, E);
        CheckLaunch(kernels::LaunchMoeLayer(problem_, plan, layer, stream_));
      }
      if (Is > 0) {
        const float* gate = nullptr;
        if (w_.shared_gate != nullptr) {
          Require(*w_.shared_gate, "shared_gate", 1, DType::kF32);
          gate = static_cast<const float*>(OnDeviceData(*w_.shared_gate, sizeof(float) * H));
        }
        auto* shared_ids = static_cast<int32_t*>(Scratch(sizeof(int32_t) * T));
        auto* shared_weights = static_cast<float*>(Scratch(sizeof(float) * T));
        CheckLaunch(
            kernels::LaunchSharedRouting(hidden, gate, T, H, shared_ids, shared_weights, stream_));
        layer.routing.ids = shared_ids;
        layer.routing.weights = shared_weights;
        layer.weights = view(self_.PointerTable(matrices, device_, stream_), 2 * E, 2 * E + 1);
        layer.accumulate = true;
        CheckLaunch(kernels::LaunchMoeLayer(shared_, shared_plan, layer, stream_));
      }
      if (!device_call_) {
        CheckCuda(cudaMemcpyAsync(args_.output->data, out, sizeof(float) * T * H,
                                  cudaMemcpyDeviceToHost, stream_),
                  "download");
      }
      CheckCuda(cudaGetLastError(), "experts.cuda forward");
    }

    CudaExperts& self_;
    const ExecContext& ctx_;
    const sy_experts_args& args_;
    const sy_expert_weights& w_;
    MoeProblem problem_, shared_;
    kernels::MoeWeightFormat format_ = kernels::MoeWeightFormat::kBf16;
    bool device_call_ = false;
    int device_ = 0;
    cudaStream_t stream_ = nullptr;
    std::vector<void*> staged_;
  };

  cudaStream_t OwnStream() {
    if (own_stream_ == nullptr)
      CheckCuda(cudaStreamCreateWithFlags(&own_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    return own_stream_;
  }

  // The device array of matrix pointers the kernels index by expert. Uploaded only when the
  // pointers change, so repeated calls on resident weights (and graph capture) copy nothing.
  const void* const* PointerTable(const std::vector<const void*>& matrices, int device,
                                  cudaStream_t stream) {
    if (matrices != table_host_ || table_device_ != device) {
      table_.Grow(sizeof(void*) * matrices.size(), device);
      CheckCuda(cudaMemcpyAsync(table_.data(), matrices.data(), sizeof(void*) * matrices.size(),
                                cudaMemcpyHostToDevice, stream),
                "pointer table upload");
      table_host_ = matrices;
      table_device_ = device;
    }
    return static_cast<const void* const*>(table_.data());
  }

  // The kernels' workspace: its counters must start zeroed, and every launch leaves them so.
  void* Workspace(size_t bytes, int device, cudaStream_t stream) {
    if (workspace_.Grow(bytes, device)) {
      CheckLaunch(kernels::InitMoeWorkspace(workspace_.data(), stream));
    }
    return workspace_.data();
  }

  // The cache of host-resident weights (cacheExperts > 0), for the weights it was built for.
  ExpertCache& CacheFor(const sy_expert_weights& w, int device) {
    const void* identity = w.gate_up[0].values.data;
    if (cache_ == nullptr || cache_identity_ != identity) {
      cache_.reset();
      cache_ = std::make_unique<ExpertCache>(std::min(cache_experts_, w.num_experts), w.num_experts,
                                             sizeof(uint16_t) * 2 * w.intermediate * w.hidden,
                                             sizeof(uint16_t) * w.hidden * w.intermediate, device);
      cache_identity_ = identity;
    }
    return *cache_;
  }

  const int32_t token_tiles_;
  const bool programmatic_;
  const int32_t cache_experts_;
  std::unique_ptr<ExpertCache> cache_;
  const void* cache_identity_ = nullptr;
  std::mutex mutex_;
  cudaStream_t own_stream_ = nullptr;
  DeviceBuffer table_, workspace_;
  std::vector<const void*> table_host_;
  int table_device_ = -1;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN(
    "builtin.experts_cuda", "0.1.0",
    sy::ExpertsComponent<sy::plugins::CudaExperts>(
        "cuda",
        "MoE experts on an NVIDIA GPU: bf16 tensor-core grouped GEMMs over bf16 or fp8 "
        "block-128 weights"))
