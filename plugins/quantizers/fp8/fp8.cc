// quantizer.fp8: fp8 e4m3 values with f32 scales, scale = amax(block) / 448 so the largest
// element of each block maps to e4m3's largest finite value.
//
//   granularity  weight blocks       dynamic activation blocks
//   tensor       (rows, cols)        (rows, cols): one scale per call
//   channel      (1, cols)           (1, cols): one scale per token
//   block        (block, block)      (1, block): per-token groups (DeepSeek-V3)
//
// The activation blocks mirror the weight blocks along the reduction dimension (cols), so a
// GEMM can apply one weight scale and one activation scale per partial sum.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fp8.capnp.h"
#include "switchyard/block_quantization.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

using Granularity = Fp8Config::Granularity;

Granularity CheckGranularity(Granularity g) {
  if (g == Granularity::TENSOR || g == Granularity::CHANNEL || g == Granularity::BLOCK) return g;
  throw std::invalid_argument("granularity: unknown value " +
                              std::to_string(static_cast<uint16_t>(g)));
}

bool DynamicActivations(Fp8Config::Activations a) {
  if (a == Fp8Config::Activations::WEIGHT_ONLY) return false;
  if (a == Fp8Config::Activations::DYNAMIC) return true;
  throw std::invalid_argument("activations: unknown value " +
                              std::to_string(static_cast<uint16_t>(a)));
}

// The host enforces $Sy.min/$Sy.max, but create() can be handed any message through the C ABI.
int64_t CheckBlock(uint32_t block) {
  if (block < 1 || block > 65536) {
    throw std::invalid_argument("block = " + std::to_string(block) + " must be in [1, 65536]");
  }
  return block;
}

class Fp8Quantizer : public Quantizer {
 public:
  using Config = Fp8Config;

  explicit Fp8Quantizer(Config::Reader config)
      : granularity_(CheckGranularity(config.getGranularity())),
        block_(CheckBlock(config.getBlock())),
        dynamic_(DynamicActivations(config.getActivations())) {}

  sy_qlayout WeightLayout(int64_t rows, int64_t cols) const override {
    switch (granularity_) {
      case Granularity::TENSOR:
        return Scaled(rows, cols);
      case Granularity::CHANNEL:
        return Scaled(1, cols);
      default:
        return Scaled(block_, block_);
    }
  }

  void QuantizeWeight(const ExecContext&, const sy_tensor& weight, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(weight, "weight");
    Quantize(in, WeightLayout(in.rows, in.cols), out);
  }

  sy_qlayout ActivationLayout(int64_t rows, int64_t cols) const override {
    if (!dynamic_) return quant::PlainLayout(DType::kF32);
    switch (granularity_) {
      case Granularity::TENSOR:
        return Scaled(rows, cols);
      case Granularity::CHANNEL:
        return Scaled(1, cols);
      default:
        return Scaled(1, block_);
    }
  }

  void QuantizeActivation(const ExecContext&, const sy_tensor& x, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(x, "activation");
    Quantize(in, ActivationLayout(in.rows, in.cols), out);
  }

 private:
  static sy_qlayout Scaled(int64_t block_rows, int64_t block_cols) {
    return quant::MakeLayout(DType::kFP8E4M3, block_rows, block_cols, true, false);
  }

  // Fills `out` after checking it was allocated for `layout`; an unscaled f32 layout
  // (weight-only activations) is a copy.
  static void Quantize(const quant::Matrix& in, const sy_qlayout& layout, sy_qtensor& out) {
    quant::RequireOutput(out, layout, in.rows, in.cols);
    if (!layout.has_scales) return quant::CopyPlain(in, out);
    auto* values = static_cast<uint8_t*>(out.values.data);
    quant::QuantizeSymmetric(in, out, kFP8E4M3Max,
                             [&](int64_t i, float scaled) { values[i] = F32ToFP8E4M3(scaled); });
  }

  Granularity granularity_;
  int64_t block_;
  bool dynamic_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.quantizer_fp8", "0.1.0",
                 sy::QuantizerComponent<sy::plugins::Fp8Quantizer>(
                     "fp8",
                     "fp8 e4m3 weights per tensor, channel or block; dynamic fp8 activations"))
