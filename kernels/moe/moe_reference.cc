#include "kernels/moe/moe_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "switchyard/dtype.hpp"

namespace sy::kernels::reference {

float Bf16ToF32(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, sizeof(f));
  return f;
}

uint16_t F32ToBf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  if (std::isnan(value)) return 0x7fc0;
  word += 0x7fff + ((word >> 16) & 1);
  return static_cast<uint16_t>(word >> 16);
}

void RouteTopk(const float* logits, int64_t tokens, int experts, int k, bool renormalize,
               int32_t* ids, float* weights) {
  std::vector<float> p(experts);
  std::vector<bool> taken(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* row = logits + t * experts;
    float top = -INFINITY;
    for (int e = 0; e < experts; ++e) top = std::max(top, row[e]);
    double sum = 0;
    for (int e = 0; e < experts; ++e) sum += p[e] = std::exp(row[e] - top);
    for (int e = 0; e < experts; ++e) p[e] = static_cast<float>(p[e] / sum);
    std::fill(taken.begin(), taken.end(), false);
    double selected = 0;
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < experts; ++e) {
        if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
      }
      taken[best] = true;
      ids[t * k + j] = best;
      weights[t * k + j] = p[best];
      selected += p[best];
    }
    if (renormalize) {
      for (int j = 0; j < k; ++j)
        weights[t * k + j] = static_cast<float>(weights[t * k + j] / selected);
    }
  }
}

std::vector<std::vector<int32_t>> SlotsByExpert(const int32_t* ids, int64_t slots, int experts) {
  std::vector<std::vector<int32_t>> out(experts);
  for (int64_t s = 0; s < slots; ++s) {
    if (ids[s] >= 0 && ids[s] < experts) out[ids[s]].push_back(static_cast<int32_t>(s));
  }
  return out;
}

namespace {

// bf16 bits or f32, as f32 (weights and activations alike).
float Value(uint16_t bf16) { return Bf16ToF32(bf16); }
float Value(float f32) { return f32; }

template <typename W, typename X>
double Dot(const W* w, const X* x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(Value(w[i])) * Value(x[i]);
  return sum;
}

// One row of activations after quantization to fp8 and back (QuantizeFp8Rows128).
std::vector<float> Fp8RoundTrip(const float* x, int64_t n) {
  return DequantizeFp8Rows128(QuantizeFp8Rows128(x, 1, n), 1, n);
}
std::vector<float> Fp8RoundTrip(const uint16_t* x, int64_t n) {
  std::vector<float> f(n);
  for (int64_t i = 0; i < n; ++i) f[i] = Bf16ToF32(x[i]);
  return Fp8RoundTrip(f.data(), n);
}

template <typename W, typename X>
void GateUpSwigluT(const X* x, const W* gate_up, int64_t hidden, int64_t inter, float* act,
                   const Activation& activation, const float* bias) {
  for (int64_t i = 0; i < inter; ++i) {
    float g = static_cast<float>(Dot(gate_up + i * hidden, x, hidden));
    float u = static_cast<float>(Dot(gate_up + (inter + i) * hidden, x, hidden));
    if (bias != nullptr) {
      g += bias[i];
      u += bias[inter + i];
    }
    float v = g / (1.0f + std::exp(-g)) * u;
    if (activation.kind == MoeActivation::kClampedSwiglu) {
      g = std::min(g, activation.limit);
      u = std::clamp(u, -activation.limit, activation.limit);
      v = (u + 1.0f) * g / (1.0f + std::exp(-activation.alpha * g));
    }
    act[i] = Bf16ToF32(F32ToBf16(v));
  }
}

template <typename W>
void DownT(const float* act, const W* down, int64_t hidden, int64_t inter, float* y,
           const float* bias) {
  for (int64_t h = 0; h < hidden; ++h) {
    double sum = bias != nullptr ? bias[h] : 0.0;
    for (int64_t i = 0; i < inter; ++i)
      sum += static_cast<double>(Value(down[h * inter + i])) * act[i];
    y[h] = static_cast<float>(sum);
  }
}

// kFp8Activations: w8a8, x and act quantized per row and 128 columns before each GEMM.
template <bool kFp8Activations, typename W>
void MoeLayerT(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
               const float* weights, const std::vector<const W*>& gate_up,
               const std::vector<const W*>& down, float* out, const Activation& activation) {
  const int64_t h = problem.hidden, inter = problem.intermediate;
  std::vector<float> act(inter), y(h);
  for (int64_t t = 0; t < problem.tokens; ++t) {
    float* o = out + t * h;
    std::fill(o, o + h, 0.0f);
    for (int j = 0; j < problem.top_k; ++j) {
      const int32_t e = ids[t * problem.top_k + j];
      if (e < 0 || e >= problem.experts) continue;
      const float* gate_up_bias =
          activation.gate_up_bias != nullptr ? activation.gate_up_bias + e * 2 * inter : nullptr;
      const float* down_bias =
          activation.down_bias != nullptr ? activation.down_bias + e * h : nullptr;
      if constexpr (kFp8Activations) {
        const std::vector<float> xq = Fp8RoundTrip(x + t * h, h);
        GateUpSwigluT(xq.data(), gate_up[e], h, inter, act.data(), activation, gate_up_bias);
        act = Fp8RoundTrip(act.data(), inter);
      } else {
        GateUpSwigluT(x + t * h, gate_up[e], h, inter, act.data(), activation, gate_up_bias);
      }
      DownT(act.data(), down[e], h, inter, y.data(), down_bias);
      for (int64_t c = 0; c < h; ++c) o[c] += weights[t * problem.top_k + j] * y[c];
    }
  }
}

// Calls fn(index of the block's scale, first row, end row, first col, end col) per 128 block.
template <typename Fn>
void ForEachFp8Block(int64_t rows, int64_t cols, Fn&& fn) {
  const int64_t b = kMoeFp8Block, grid_cols = (cols + b - 1) / b;
  for (int64_t r0 = 0; r0 < rows; r0 += b) {
    for (int64_t c0 = 0; c0 < cols; c0 += b)
      fn(r0 / b * grid_cols + c0 / b, r0, std::min(rows, r0 + b), c0, std::min(cols, c0 + b));
  }
}

}  // namespace

void GateUpSwiglu(const uint16_t* x, const uint16_t* gate_up, int64_t hidden, int64_t inter,
                  float* act, const Activation& activation, const float* bias) {
  GateUpSwigluT(x, gate_up, hidden, inter, act, activation, bias);
}
void GateUpSwiglu(const uint16_t* x, const float* gate_up, int64_t hidden, int64_t inter,
                  float* act, const Activation& activation, const float* bias) {
  GateUpSwigluT(x, gate_up, hidden, inter, act, activation, bias);
}

void Down(const float* act, const uint16_t* down, int64_t hidden, int64_t inter, float* y,
          const float* bias) {
  DownT(act, down, hidden, inter, y, bias);
}
void Down(const float* act, const float* down, int64_t hidden, int64_t inter, float* y,
          const float* bias) {
  DownT(act, down, hidden, inter, y, bias);
}

void MoeLayer(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
              const float* weights, const std::vector<const uint16_t*>& gate_up,
              const std::vector<const uint16_t*>& down, float* out, const Activation& activation) {
  MoeLayerT<false>(problem, x, ids, weights, gate_up, down, out, activation);
}
void MoeLayer(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
              const float* weights, const std::vector<const float*>& gate_up,
              const std::vector<const float*>& down, float* out, const Activation& activation) {
  MoeLayerT<false>(problem, x, ids, weights, gate_up, down, out, activation);
}

void GateUpSwigluW8A8(const uint16_t* x, const float* gate_up, int64_t hidden, int64_t inter,
                      float* act, const Activation& activation, const float* bias) {
  const std::vector<float> xq = Fp8RoundTrip(x, hidden);
  GateUpSwigluT(xq.data(), gate_up, hidden, inter, act, activation, bias);
}
void MoeLayerW8A8(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
                  const float* weights, const std::vector<const float*>& gate_up,
                  const std::vector<const float*>& down, float* out, const Activation& activation) {
  MoeLayerT<true>(problem, x, ids, weights, gate_up, down, out, activation);
}

Fp8Matrix QuantizeFp8Block128(const float* w, int64_t rows, int64_t cols) {
  Fp8Matrix m;
  m.values.resize(rows * cols);
  const int64_t b = kMoeFp8Block;
  m.scales.resize((rows + b - 1) / b * ((cols + b - 1) / b));
  ForEachFp8Block(rows, cols, [&](int64_t s, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    float amax = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::abs(w[r * cols + c]));
    }
    const float scale = amax / kFP8E4M3Max > 0.0f ? amax / kFP8E4M3Max : 1.0f;
    m.scales[s] = scale;
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t c = c0; c < c1; ++c)
        m.values[r * cols + c] = F32ToFP8E4M3(w[r * cols + c] / scale);
    }
  });
  return m;
}

Fp8Matrix QuantizeFp8Rows128(const float* x, int64_t rows, int64_t cols) {
  Fp8Matrix m;
  m.values.resize(rows * cols);
  const int64_t groups = (cols + kMoeFp8Block - 1) / kMoeFp8Block;
  m.scales.resize(rows * groups);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = g * kMoeFp8Block, c1 = std::min(cols, c0 + kMoeFp8Block);
      float amax = 0.0f;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::abs(x[r * cols + c]));
      const float scale = amax / kFP8E4M3Max > 0.0f ? amax / kFP8E4M3Max : 1.0f;
      m.scales[r * groups + g] = scale;
      for (int64_t c = c0; c < c1; ++c)
        m.values[r * cols + c] = F32ToFP8E4M3(x[r * cols + c] / scale);
    }
  }
  return m;
}

std::vector<float> DequantizeFp8Rows128(const Fp8Matrix& m, int64_t rows, int64_t cols) {
  std::vector<float> x(rows * cols);
  const int64_t groups = (cols + kMoeFp8Block - 1) / kMoeFp8Block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      x[r * cols + c] =
          FP8E4M3ToF32(m.values[r * cols + c]) * m.scales[r * groups + c / kMoeFp8Block];
  }
  return x;
}

std::vector<float> DequantizeFp8Block128(const Fp8Matrix& m, int64_t rows, int64_t cols) {
  std::vector<float> w(rows * cols);
  ForEachFp8Block(rows, cols, [&](int64_t s, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t c = c0; c < c1; ++c)
        w[r * cols + c] = FP8E4M3ToF32(m.values[r * cols + c]) * m.scales[s];
    }
  });
  return w;
}

}  // namespace sy::kernels::reference
