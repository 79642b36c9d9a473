// experts.cpu: the reference MoE expert computation on the CPU.
//
// Tokens are grouped by expert (a counting sort of the routing slots), each expert's rows are
// gathered into one matrix, and the expert runs as two GEMMs through OpenBLAS:
//   G = X . gate_up^T (+ bias)  ->  A = act(G[:, :I], G[:, I:])  ->  Y = A . down^T (+ bias)
// and Y's rows are added back to their tokens scaled by the router weights (after the down
// projection, as transformers does). act is silu(gate) * up, or gpt-oss's clamped SwiGLU
// (sy_expert_activation); the biases are gpt-oss's, per routed expert. Quantized weights are
// dequantized to f32 a matrix at a time into the call's workspace; with an activation quantizer,
// each GEMM input is quantized and dequantized first, so w8a8 schemes get exactly their rounding on
// f32 arithmetic.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "cpu.capnp.h"
#include "switchyard/parallel.hpp"
#include "switchyard/plugin.hpp"
#include "switchyard/qtensor.hpp"

namespace sy::plugins {
namespace {

// Routing slots grouped by expert: slots[offsets[e] .. offsets[e + 1]) belong to expert e.
struct ExpertGroups {
  std::vector<int64_t> offsets;  // num_experts + 1
  std::vector<int64_t> slots;    // flat index t * k + j into the routing tensors
};

ExpertGroups GroupByExpert(const int32_t* ids, int64_t slots, int32_t num_experts) {
  ExpertGroups groups;
  groups.offsets.assign(num_experts + 1, 0);
  for (int64_t s = 0; s < slots; ++s) {
    if (ids[s] >= 0) ++groups.offsets[ids[s] + 1];
  }
  for (int32_t e = 0; e < num_experts; ++e) groups.offsets[e + 1] += groups.offsets[e];
  groups.slots.resize(groups.offsets[num_experts]);
  std::vector<int64_t> next(groups.offsets.begin(), groups.offsets.end() - 1);
  for (int64_t s = 0; s < slots; ++s) {
    if (ids[s] >= 0) groups.slots[next[ids[s]]++] = s;
  }
  return groups;
}

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

// The activation and biases of sy_expert_weights (ABI 1.3); an older host's smaller struct
// means SiLU without biases.
struct Activation {
  int32_t kind = SY_ACTIVATION_SILU;
  float alpha = 0;
  float limit = 0;
  const float* gate_up_bias = nullptr;  // [experts, 2I]
  const float* down_bias = nullptr;     // [experts, H]

  float operator()(float gate, float up) const {
    if (kind == SY_ACTIVATION_SILU) return Silu(gate) * up;
    const float g = std::min(gate, limit);
    const float u = std::clamp(up, -limit, limit);
    return (u + 1.0f) * g / (1.0f + std::exp(-alpha * g));
  }
};

const float* BiasData(const sy_tensor* bias, int64_t experts, int64_t width, const char* what) {
  if (bias == nullptr) return nullptr;
  const TensorView view(*bias);
  view.RequireCpuContiguous(what, 2, DType::kF32);
  if (view.dim(0) != experts || view.dim(1) != width) {
    throw std::invalid_argument(std::string(what) + ": expected f32 [" + std::to_string(experts) +
                                ", " + std::to_string(width) + "], got " + view.Describe());
  }
  return view.data<const float>();
}

Activation ReadActivation(const sy_expert_weights& w) {
  Activation a;
  if (w.struct_size < offsetof(sy_expert_weights, down_bias) + sizeof(w.down_bias)) return a;
  if (w.activation != SY_ACTIVATION_SILU && w.activation != SY_ACTIVATION_CLAMPED_SWIGLU) {
    throw std::invalid_argument("unknown expert activation " + std::to_string(w.activation));
  }
  a.kind = w.activation;
  a.alpha = w.swiglu_alpha;
  a.limit = w.swiglu_limit;
  a.gate_up_bias = BiasData(w.gate_up_bias, w.num_experts, 2 * w.intermediate, "gate_up_bias");
  a.down_bias = BiasData(w.down_bias, w.num_experts, w.hidden, "down_bias");
  return a;
}

// Up to this many tokens per expert, packed weights are dequantized row by row into the dot
// products instead of into a whole f32 matrix for one GEMM.
constexpr int64_t kRowwiseMaxTokens = 8;

class CpuExperts : public Experts {
 public:
  using Config = CpuExpertsConfig;

  explicit CpuExperts(Config::Reader config) : threads_(static_cast<int>(config.getThreads())) {}

  bool Supports(const sy_qlayout& layout) const override {
    switch (static_cast<DType>(layout.dtype)) {
      case DType::kF32:
      case DType::kBF16:
      case DType::kF16:
        return true;
      case DType::kFP8E4M3:
      case DType::kI8:
      case DType::kI4:
      case DType::kU4:
        return layout.has_scales != 0;
      default:
        return false;
    }
  }

  bool SupportsActivation(int32_t activation) const override {
    return activation == SY_ACTIVATION_SILU || activation == SY_ACTIVATION_CLAMPED_SWIGLU;
  }

  void Forward(const ExecContext& ctx, const sy_experts_args& args) override {
    const sy_expert_weights& w = *args.weights;
    const TensorView hidden(*args.hidden);
    hidden.RequireCpuContiguous("hidden", 2, DType::kF32);
    const int64_t tokens = hidden.dim(0);
    if (hidden.dim(1) != w.hidden)
      throw std::invalid_argument("hidden: width " + std::to_string(hidden.dim(1)) +
                                  " != H = " + std::to_string(w.hidden));
    const TensorView ids(*args.expert_ids), route_weights(*args.expert_weights),
        output(*args.output);
    ids.RequireCpuContiguous("expert_ids", 2, DType::kI32);
    route_weights.RequireCpuContiguous("expert_weights", 2, DType::kF32);
    output.RequireCpuContiguous("output", 2, DType::kF32);
    if (ids.dim(0) != tokens || route_weights.dim(0) != tokens ||
        route_weights.dim(1) != ids.dim(1) || output.dim(0) != tokens ||
        output.dim(1) != w.hidden) {
      throw std::invalid_argument("routing and output shapes do not match hidden " +
                                  hidden.Describe());
    }
    const int64_t k = ids.dim(1);
    for (int64_t s = 0; s < tokens * k; ++s) {
      const int32_t e = ids.data<int32_t>()[s];
      if (e < -1 || e >= w.num_experts) {
        throw std::invalid_argument("expert id " + std::to_string(e) + " of token " +
                                    std::to_string(s / k) + " is outside [0, " +
                                    std::to_string(w.num_experts) + ")");
      }
    }
    Call call{ctx, args, threads_ > 0 ? threads_ : ctx.num_threads(), ReadActivation(w)};
    float* out = output.data<float>();
    std::memset(out, 0, sizeof(float) * tokens * w.hidden);

    const ExpertGroups groups = GroupByExpert(ids.data<int32_t>(), tokens * k, w.num_experts);
    for (int32_t e = 0; e < w.num_experts; ++e) {
      const int64_t begin = groups.offsets[e], count = groups.offsets[e + 1] - begin;
      if (count == 0) continue;
      std::vector<int64_t> rows(count);
      std::vector<float> scale(count);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t slot = groups.slots[begin + i];
        rows[i] = slot / k;
        scale[i] = route_weights.data<float>()[slot];
      }
      call.RunExpert(w.gate_up[e], w.down[e], w.intermediate, rows, scale,
                     "expert " + std::to_string(e), e);
    }
    if (w.shared_intermediate > 0) RunShared(call, tokens);
  }

 private:
  // Everything one forward() call works with.
  struct Call {
    const ExecContext& ctx;
    const sy_experts_args& args;
    int threads;
    Activation activation;

    float* Scratch(int64_t floats) const {
      return static_cast<float*>(ctx.Allocate(sizeof(float) * std::max<int64_t>(floats, 1)));
    }

    // f32 rows of a stored matrix: the values themselves when already f32, else dequantized.
    const float* Dequantized(const sy_qtensor& q, int64_t rows, int64_t cols,
                             const std::string& what) const {
      const QTensorView view(q);
      view.Require(what.c_str(), rows, cols);
      if (view.dtype() == DType::kF32 && !q.layout.has_scales)
        return static_cast<const float*>(q.values.data);
      float* out = Scratch(rows * cols);
      ParallelFor(threads, rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) view.DequantizeRow(r, out + r * cols);
      });
      return out;
    }

    // Applies the activation quantizer's rounding to x [rows, cols] in place.
    void RoundActivations(float* x, int64_t rows, int64_t cols) const {
      const sy_quantizer_ref* quantizer = args.activation_quantizer;
      if (quantizer == nullptr || rows == 0) return;
      sy_qlayout layout{};
      Check(quantizer->vtable->activation_layout(quantizer->self, rows, cols, &layout),
            "activation_layout");
      if (!layout.has_scales && layout.dtype == SY_DTYPE_F32) return;
      sy_qtensor q = Allocate(layout, rows, cols);
      const sy_tensor input = Matrix(x, rows, cols);
      Check(quantizer->vtable->quantize_activation(quantizer->self, ctx.c_context(), &input, &q),
            "quantize_activation");
      const QTensorView view(q);
      view.Require("quantized activation", rows, cols);
      for (int64_t r = 0; r < rows; ++r) view.DequantizeRow(r, x + r * cols);
    }

    // Computes the expert on hidden rows `rows` and adds scale[i] * y_i to output row rows[i].
    // `expert` picks the biases of a routed expert; -1 (the shared expert) has none.
    void RunExpert(const sy_qtensor& gate_up, const sy_qtensor& down, int64_t inter,
                   const std::vector<int64_t>& rows, const std::vector<float>& scale,
                   const std::string& what, int64_t expert) const {
      const int64_t n = static_cast<int64_t>(rows.size()), h = args.weights->hidden;
      const float* hidden = static_cast<const float*>(args.hidden->data);
      float* x = Scratch(n * h);
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(x + i * h, hidden + rows[i] * h, sizeof(float) * h);
      RoundActivations(x, n, h);
      float* g = Scratch(n * 2 * inter);
      Project(x, n, gate_up, 2 * inter, h, g, what + " gate_up");
      const float* gate_up_bias = expert >= 0 && activation.gate_up_bias
                                      ? activation.gate_up_bias + expert * 2 * inter
                                      : nullptr;
      const float* down_bias =
          expert >= 0 && activation.down_bias ? activation.down_bias + expert * h : nullptr;
      if (gate_up_bias != nullptr) {
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t c = 0; c < 2 * inter; ++c) g[i * 2 * inter + c] += gate_up_bias[c];
        }
      }
      float* a = Scratch(n * inter);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t c = 0; c < inter; ++c)
          a[i * inter + c] = activation(g[i * 2 * inter + c], g[i * 2 * inter + inter + c]);
      }
      RoundActivations(a, n, inter);
      float* y = Scratch(n * h);
      Project(a, n, down, h, inter, y, what + " down");
      if (down_bias != nullptr) {
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t c = 0; c < h; ++c) y[i * h + c] += down_bias[c];
        }
      }
      float* out = static_cast<float*>(args.output->data);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t c = 0; c < h; ++c) out[rows[i] * h + c] += scale[i] * y[i * h + c];
      }
    }

    // out [n, rows] = x [n, cols] . w^T for a stored w [rows, cols]. Full-precision f32 weights
    // and larger batches go through one GEMM on dequantized weights; a few tokens on packed
    // weights dequantize a row at a time and dot it with each token, so the packed bytes are
    // read once and no f32 copy of the matrix is written (decode is bound by those bytes).
    void Project(const float* x, int64_t n, const sy_qtensor& w, int64_t rows, int64_t cols,
                 float* out, const std::string& what) const {
      const bool plain = w.layout.dtype == SY_DTYPE_F32 && !w.layout.has_scales;
      if (plain || n > kRowwiseMaxTokens) {
        Gemm(x, Dequantized(w, rows, cols, what), out, n, rows, cols);
        return;
      }
      const QTensorView view(w);
      view.Require(what.c_str(), rows, cols);
      ParallelFor(threads, rows, 32, [&](int64_t r0, int64_t r1) {
        std::vector<float> row(cols);
        for (int64_t r = r0; r < r1; ++r) {
          view.DequantizeRow(r, row.data());
          for (int64_t i = 0; i < n; ++i) {
            out[i * rows + r] = cblas_sdot(static_cast<int>(cols), row.data(), 1, x + i * cols, 1);
          }
        }
      });
    }

    // c [m, n] = a [m, k] . b [n, k]^T
    static void Gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                  static_cast<int>(k), 1.0f, a, static_cast<int>(k), b, static_cast<int>(k), 0.0f,
                  c, static_cast<int>(n));
    }

    sy_tensor Matrix(void* data, int64_t rows, int64_t cols, DType dtype = DType::kF32) const {
      sy_tensor t{};
      t.data = data;
      t.dtype = static_cast<int32_t>(dtype);
      t.device = {SY_DEVICE_CPU, 0};
      t.ndim = 2;
      t.shape[0] = rows;
      t.shape[1] = cols;
      t.strides[0] = cols;
      t.strides[1] = 1;
      return t;
    }

    sy_qtensor Allocate(const sy_qlayout& layout, int64_t rows, int64_t cols) const {
      sy_qtensor q{};
      q.layout = layout;
      const DType dtype = static_cast<DType>(layout.dtype);
      q.values = Matrix(ctx.Allocate(DTypeBytes(dtype, rows * cols) + 1), rows, cols, dtype);
      const int64_t sr = ScaleRows(layout, rows), sc = ScaleCols(layout, cols);
      if (layout.has_scales) q.scales = Matrix(ctx.Allocate(sizeof(float) * sr * sc + 1), sr, sc);
      if (layout.has_zeros) q.zeros = Matrix(ctx.Allocate(sr * sc + 1), sr, sc, DType::kU8);
      return q;
    }

    static void Check(sy_error* error, const char* what) {
      if (error == nullptr) return;
      const std::string message =
          std::string("activation quantizer ") + what + ": " + Host()->error_message(error);
      const sy_status_code code = Host()->error_code(error);
      Host()->error_free(error);
      throw PluginError(code, message);
    }
  };

  static void RunShared(const Call& call, int64_t tokens) {
    const sy_expert_weights& w = *call.args.weights;
    std::vector<int64_t> rows(tokens);
    std::vector<float> scale(tokens, 1.0f);
    const float* hidden = static_cast<const float*>(call.args.hidden->data);
    for (int64_t t = 0; t < tokens; ++t) {
      rows[t] = t;
      if (w.shared_gate != nullptr) {
        const float* gate = static_cast<const float*>(w.shared_gate->data);
        double dot = 0;
        for (int64_t c = 0; c < w.hidden; ++c)
          dot += static_cast<double>(gate[c]) * hidden[t * w.hidden + c];
        scale[t] = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
      }
    }
    call.RunExpert(*w.shared_gate_up, *w.shared_down, w.shared_intermediate, rows, scale,
                   "shared expert", -1);
  }

  int threads_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.experts_cpu", "0.1.0",
                 sy::ExpertsComponent<sy::plugins::CpuExperts>(
                     "cpu", "reference experts on the CPU: every stored format, OpenBLAS GEMMs"))
