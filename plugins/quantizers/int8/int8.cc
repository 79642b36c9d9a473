// quantizer.int8: symmetric int8 with one f32 scale per row, scale = amax(row) / 127 and
// value = round-half-even(w / scale) clamped to [-127, 127]. -128 is never used, so the range
// is symmetric and negating a row negates its codes exactly. Weights are per output channel;
// with activations = perToken, activations get the same treatment per token (w8a8).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "int8.capnp.h"
#include "switchyard/block_quantization.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

constexpr int32_t kInt8Max = 127;

bool PerTokenActivations(Int8Config::Activations a) {
  if (a == Int8Config::Activations::WEIGHT_ONLY) return false;
  if (a == Int8Config::Activations::PER_TOKEN) return true;
  throw std::invalid_argument("activations: unknown value " +
                              std::to_string(static_cast<uint16_t>(a)));
}

class Int8Quantizer : public Quantizer {
 public:
  using Config = Int8Config;

  explicit Int8Quantizer(Config::Reader config)
      : per_token_(PerTokenActivations(config.getActivations())) {}

  sy_qlayout WeightLayout(int64_t, int64_t cols) const override { return PerRow(cols); }

  void QuantizeWeight(const ExecContext&, const sy_tensor& weight, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(weight, "weight");
    Quantize(in, WeightLayout(in.rows, in.cols), out);
  }

  sy_qlayout ActivationLayout(int64_t, int64_t cols) const override {
    return per_token_ ? PerRow(cols) : quant::PlainLayout(DType::kF32);
  }

  void QuantizeActivation(const ExecContext&, const sy_tensor& x, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(x, "activation");
    Quantize(in, ActivationLayout(in.rows, in.cols), out);
  }

 private:
  static sy_qlayout PerRow(int64_t cols) {
    return quant::MakeLayout(DType::kI8, 1, cols, true, false);
  }

  // Fills `out` after checking it was allocated for `layout`; an unscaled f32 layout
  // (weight-only activations) is a copy.
  static void Quantize(const quant::Matrix& in, const sy_qlayout& layout, sy_qtensor& out) {
    quant::RequireOutput(out, layout, in.rows, in.cols);
    if (!layout.has_scales) return quant::CopyPlain(in, out);
    auto* values = static_cast<int8_t*>(out.values.data);
    quant::QuantizeSymmetric(in, out, kInt8Max, [&](int64_t i, float scaled) {
      values[i] = static_cast<int8_t>(F32ToSaturatedInt(scaled, -kInt8Max, kInt8Max));
    });
  }

  bool per_token_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.quantizer_int8", "0.1.0",
                 sy::QuantizerComponent<sy::plugins::Int8Quantizer>(
                     "int8",
                     "symmetric int8 weights per channel; optional int8 per-token activations"))
