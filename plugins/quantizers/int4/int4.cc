// quantizer.int4: weight-only asymmetric 4-bit group quantization (the math of AWQ/GPTQ
// checkpoints, in Switchyard's own storage: u4 values packed two per byte, f32 scales and u8
// zero points per (1, group) block). Per group of a row:
//   lo = min(w, 0), hi = max(w, 0)        the range always holds 0, so 0 is exact
//   scale = (hi - lo) / 15                (1 for an all-zero group)
//   zero  = clamp(round(-lo / scale), 0, 15)
//   q     = clamp(round(w / scale) + zero, 0, 15)
// with round-half-even; element = (q - zero) * scale. Activations stay f32.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "int4.capnp.h"
#include "switchyard/block_quantization.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

constexpr int32_t kU4Max = 15;

// The host enforces $Sy.min/$Sy.max, but create() can be handed any message through the C ABI.
int64_t CheckGroup(uint32_t group) {
  if (group < 2 || group > 65536) {
    throw std::invalid_argument("group = " + std::to_string(group) + " must be in [2, 65536]");
  }
  return group;
}

// Quantizes one group with the formulas at the top of this file.
void QuantizeGroup(const quant::Matrix& in, const quant::Block& group, uint8_t* values,
                   float* scales, uint8_t* zeros) {
  float lo = 0.0f, hi = 0.0f;
  quant::ForEachElement(group, in.cols, [&](int64_t i) {
    lo = std::min(lo, in.data[i]);
    hi = std::max(hi, in.data[i]);
  });
  // The range in double: hi - lo overflows f32 for weights near FLT_MAX; range / 15 does not.
  const float scale = quant::NonZeroScale(static_cast<float>((double{hi} - lo) / kU4Max));
  const int32_t zero = F32ToSaturatedInt(-lo / scale, 0, kU4Max);
  scales[group.index] = scale;
  zeros[group.index] = static_cast<uint8_t>(zero);
  quant::ForEachElement(group, in.cols, [&](int64_t i) {
    const float q = std::nearbyint(in.data[i] / scale) + static_cast<float>(zero);
    SetNibble(values, i, static_cast<uint8_t>(std::clamp(q, 0.0f, float{kU4Max})));
  });
}

class Int4Quantizer : public Quantizer {
 public:
  using Config = Int4Config;

  explicit Int4Quantizer(Config::Reader config) : group_(CheckGroup(config.getGroup())) {}

  sy_qlayout WeightLayout(int64_t, int64_t cols) const override {
    if (cols % group_ != 0) {
      throw std::invalid_argument("int4 group size " + std::to_string(group_) +
                                  " does not divide " + std::to_string(cols) + " columns");
    }
    if (cols % 2 != 0) {  // reachable with an odd group size
      throw std::invalid_argument(
          "int4 packs two u4 values per byte and needs an even column "
          "count, got " +
          std::to_string(cols) + " columns");
    }
    return quant::MakeLayout(DType::kU4, 1, group_, true, true);
  }

  void QuantizeWeight(const ExecContext&, const sy_tensor& weight, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(weight, "weight");
    const sy_qlayout layout = WeightLayout(in.rows, in.cols);
    quant::RequireOutput(out, layout, in.rows, in.cols);
    auto* values = static_cast<uint8_t*>(out.values.data);
    auto* scales = static_cast<float*>(out.scales.data);
    auto* zeros = static_cast<uint8_t*>(out.zeros.data);
    quant::ForEachBlock(layout, in.rows, in.cols, [&](const quant::Block& group) {
      QuantizeGroup(in, group, values, scales, zeros);
    });
  }

  sy_qlayout ActivationLayout(int64_t, int64_t) const override {
    return quant::PlainLayout(DType::kF32);
  }

  void QuantizeActivation(const ExecContext&, const sy_tensor& x, sy_qtensor& out) override {
    const quant::Matrix in = quant::RequireInput(x, "activation");
    quant::RequireOutput(out, ActivationLayout(in.rows, in.cols), in.rows, in.cols);
    quant::CopyPlain(in, out);
  }

 private:
  int64_t group_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.quantizer_int4", "0.1.0",
                 sy::QuantizerComponent<sy::plugins::Int4Quantizer>(
                     "int4", "weight-only u4 group quantization with f32 scales and zero points"))
