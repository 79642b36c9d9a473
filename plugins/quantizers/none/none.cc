// quantizer.none: no quantization. Weights are stored in bf16, f16 or f32 (converted with
// round-to-nearest-even), with no scales; activations stay f32. This is the baseline every
// other quantizer is compared with, and the layout full-precision expert kernels read.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "none.capnp.h"
#include "switchyard/block_quantization.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

DType StorageDType(NoneConfig::StorageType type) {
  switch (type) {
    case NoneConfig::StorageType::BF16:
      return DType::kBF16;
    case NoneConfig::StorageType::F16:
      return DType::kF16;
    case NoneConfig::StorageType::F32:
      return DType::kF32;
  }
  // A raw value from a newer schema: refuse rather than guess a format.
  throw std::invalid_argument("dtype: unknown value " +
                              std::to_string(static_cast<uint16_t>(type)));
}

// Writes `in` into `dst` in `dtype` (bf16, f16 or f32). A finite input that rounds to
// infinity (f16 beyond 65504) is refused: it would turn every output it touches into Inf/NaN.
void Store(const quant::Matrix& in, DType dtype, void* dst, const char* what) {
  const int64_t n = in.rows * in.cols;
  if (dtype == DType::kF32) {
    std::memcpy(dst, in.data, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const bool bf16 = dtype == DType::kBF16;
    out[i] = bf16 ? F32ToBF16(in.data[i]) : F32ToF16(in.data[i]);
    if (std::isinf(bf16 ? BF16ToF32(out[i]) : F16ToF32(out[i]))) {
      throw std::invalid_argument(std::string(what) + ": element [" + std::to_string(i / in.cols) +
                                  ", " + std::to_string(i % in.cols) + "] = " +
                                  std::to_string(in.data[i]) + " overflows " + DTypeName(dtype));
    }
  }
}

class NoneQuantizer : public Quantizer {
 public:
  using Config = NoneConfig;

  explicit NoneQuantizer(Config::Reader config) : dtype_(StorageDType(config.getDtype())) {}

  sy_qlayout WeightLayout(int64_t, int64_t) const override { return quant::PlainLayout(dtype_); }

  void QuantizeWeight(const ExecContext&, const sy_tensor& weight, sy_qtensor& out) override {
    Convert(weight, "weight", dtype_, out);
  }

  sy_qlayout ActivationLayout(int64_t, int64_t) const override {
    return quant::PlainLayout(DType::kF32);
  }

  void QuantizeActivation(const ExecContext&, const sy_tensor& x, sy_qtensor& out) override {
    Convert(x, "activation", DType::kF32, out);
  }

 private:
  static void Convert(const sy_tensor& input, const char* what, DType dtype, sy_qtensor& out) {
    const quant::Matrix in = quant::RequireInput(input, what);
    quant::RequireOutput(out, quant::PlainLayout(dtype), in.rows, in.cols);
    Store(in, dtype, out.values.data, what);
  }

  DType dtype_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.quantizer_none", "0.1.0",
                 sy::QuantizerComponent<sy::plugins::NoneQuantizer>(
                     "none", "no quantization: bf16/f16/f32 weights, f32 activations"))
