// The quantizer conformance suite: every quantizer found on the plugin search path, in-tree or
// a vendor's (SWITCHYARD_PLUGIN_PATH=DIR quantizer_conformance_test), created from its default
// config, must satisfy the quantizer contract of plugin_abi.h. What it writes is decoded by an
// independent double-precision reference below, which reads values, scales and zero points by
// hand from the block formula element = (value - zero) * scale, and must match both the host's
// QTensor::Dequantize and, within a bound for its storage dtype, the matrix it was given.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/plugin_host/component.h"
#include "core/plugin_host/host_api.h"
#include "core/plugin_host/quantizer.h"
#include "core/tensor/qtensor.h"
#include "core/tensor/tensor_random.h"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

// Largest relative RMS error (||dequantized - original|| / ||original||) of unit-normal data
// that each storage dtype may show; < 0 for a dtype with no bound (a test failure).
double ErrorBound(int32_t dtype) {
  switch (dtype) {
    case SY_DTYPE_F32:
      return 0.0;
    case SY_DTYPE_BF16:
      return 5e-3;
    case SY_DTYPE_F16:
      return 1e-3;
    case SY_DTYPE_FP8_E4M3:
      return 4e-2;
    case SY_DTYPE_I8:
      return 1e-2;
    case SY_DTYPE_U4:
    case SY_DTYPE_I4:
      return 1.2e-1;
    default:
      return -1.0;
  }
}

// ---- The reference decoder: plain bit manipulation, nothing from dtype.hpp or qtensor.hpp. --

double DecodeBF16(uint16_t bits) {
  const uint32_t f32_bits = static_cast<uint32_t>(bits) << 16;  // bf16 is f32's top half
  float value;
  std::memcpy(&value, &f32_bits, sizeof(value));
  return value;
}

// sign(1) exponent(5, bias 15) mantissa(10).
double DecodeF16(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  }
  return (bits & 0x8000) ? -magnitude : magnitude;
}

// e4m3fn: sign(1) exponent(4, bias 7) mantissa(3); no infinities, S.1111.111 is NaN.
double DecodeE4M3(uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf, mantissa = bits & 0x7;
  double magnitude;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = NAN;
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -9);
  } else {
    magnitude = std::ldexp(8 + mantissa, exponent - 10);
  }
  return (bits & 0x80) ? -magnitude : magnitude;
}

// Stored element i of `values` (row-major), before scaling.
double StoredElement(const Tensor& values, int32_t dtype, int64_t i) {
  const auto* bytes = static_cast<const uint8_t*>(values.raw_data());
  const int nibble = (i % 2) ? bytes[i / 2] >> 4 : bytes[i / 2] & 0xf;  // packed formats only
  switch (dtype) {
    case SY_DTYPE_F32:
      return values.data<float>()[i];
    case SY_DTYPE_BF16:
      return DecodeBF16(values.data<uint16_t>()[i]);
    case SY_DTYPE_F16:
      return DecodeF16(values.data<uint16_t>()[i]);
    case SY_DTYPE_FP8_E4M3:
      return DecodeE4M3(bytes[i]);
    case SY_DTYPE_I8:
      return static_cast<int8_t>(bytes[i]);
    case SY_DTYPE_U4:
      return nibble;
    case SY_DTYPE_I4:
      return nibble >= 8 ? nibble - 16 : nibble;
    default:
      ADD_FAILURE() << "no reference decoder for dtype " << dtype;
      return NAN;
  }
}

// (value - zero) * scale for every element, with the block of (r, c) at
// (r / block_rows, c / block_cols) in a grid of ceil(cols / block_cols) columns.
std::vector<double> ReferenceDequantize(const QTensor& q) {
  const sy_qlayout& l = q.layout;
  const int64_t rows = q.values.dim(0), cols = q.values.dim(1);
  const int64_t grid_cols = (cols + l.block_cols - 1) / l.block_cols;
  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double v = StoredElement(q.values, l.dtype, r * cols + c);
      if (l.has_scales) {
        const int64_t block = (r / l.block_rows) * grid_cols + c / l.block_cols;
        const double zero = l.has_zeros ? q.zeros.data<uint8_t>()[block] : 0.0;
        v = (v - zero) * q.scales.data<float>()[block];
      }
      out[r * cols + c] = v;
    }
  }
  return out;
}

double RelativeRmsError(const std::vector<double>& approx, const Tensor& original) {
  double error = 0, norm = 0;
  for (int64_t i = 0; i < original.numel(); ++i) {
    const double x = original.data<float>()[i];
    error += (approx[i] - x) * (approx[i] - x);
    norm += x * x;
  }
  return std::sqrt(error / norm);
}

// ---- The suite ------------------------------------------------------------------------------

class QuantizerConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto component = Component::Create(*DiscoveredPlugins().Find(GetParam()), {});
    ASSERT_TRUE(component.ok()) << "a quantizer must be creatable from its default config: "
                                << component.status();
    auto quantizer = Quantizer::From(*component);
    ASSERT_TRUE(quantizer.ok());
    quantizer_.emplace(*quantizer);
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
  }

  // Checks `q` (quantized from `original`) against the reference decoder and the dtype bound.
  void ExpectFaithful(const QTensor& q, const Tensor& original, const char* what) {
    const double bound = ErrorBound(q.layout.dtype);
    ASSERT_GE(bound, 0.0) << what << ": no error bound for dtype " << q.layout.dtype;
    const std::vector<double> reference = ReferenceDequantize(q);
    auto host = q.Dequantize();
    ASSERT_TRUE(host.ok()) << host.status();
    for (int64_t i = 0; i < original.numel(); ++i) {
      ASSERT_NEAR(host->data<float>()[i], reference[i],
                  1e-6 * std::max(1.0, std::fabs(reference[i])))
          << what << " element " << i << ": the host's dequantization disagrees with the layout";
    }
    const double error = RelativeRmsError(reference, original);
    RecordProperty(std::string(what) + "_relative_rms_error", std::to_string(error));
    EXPECT_LE(error, bound) << what << " stored as " << q.DescribeLayout();
  }

  std::optional<Quantizer> quantizer_;
  std::unique_ptr<ExecContext> ctx_;
};

TEST_P(QuantizerConformanceTest, WeightLayoutIsValid) {
  auto layout = quantizer_->WeightLayout(256, 512);  // the host validates what comes back
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_TRUE(ValidateLayout(*layout, 256, 512).ok());
  EXPECT_GE(ErrorBound(layout->dtype), 0.0) << "unexpected storage dtype " << layout->dtype;
  if (layout->has_scales) {
    EXPECT_LE(layout->block_rows, 256) << "blocks larger than the matrix waste scale storage";
    EXPECT_LE(layout->block_cols, 512);
  }
}

TEST_P(QuantizerConformanceTest, WeightsDequantizeWithinTheDTypeBound) {
  Tensor w = *RandomNormal({256, 512}, 1);
  auto q = quantizer_->QuantizeWeight(*ctx_, w);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->values.shape(), (Shape{256, 512}));
  ExpectFaithful(*q, w, "weight");
}

TEST_P(QuantizerConformanceTest, RaggedWeightShapesUsePartialBlocks) {
  if (!quantizer_->WeightLayout(200, 384).ok()) GTEST_SKIP() << "[200, 384] is unsupported";
  Tensor w = *RandomNormal({200, 384}, 2);
  auto q = quantizer_->QuantizeWeight(*ctx_, w);
  ASSERT_TRUE(q.ok()) << q.status();
  ExpectFaithful(*q, w, "weight");
}

TEST_P(QuantizerConformanceTest, IsDeterministic) {
  Tensor w = *RandomNormal({256, 512}, 3);
  auto a = quantizer_->QuantizeWeight(*ctx_, w);
  auto b = quantizer_->QuantizeWeight(*ctx_, w);
  ASSERT_TRUE(a.ok() && b.ok());
  auto bytes = [](const Tensor& t) {
    if (!t.defined()) return std::vector<uint8_t>();
    const auto* p = static_cast<const uint8_t*>(t.raw_data());
    return std::vector<uint8_t>(p, p + t.nbytes());
  };
  EXPECT_EQ(bytes(a->values), bytes(b->values));
  EXPECT_EQ(bytes(a->scales), bytes(b->scales));
  EXPECT_EQ(bytes(a->zeros), bytes(b->zeros));
}

TEST_P(QuantizerConformanceTest, RefusesNonFiniteWeights) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    Tensor w = *RandomNormal({256, 512}, 4);
    w.data<float>()[1000] = bad;
    auto q = quantizer_->QuantizeWeight(*ctx_, w);
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << "weight " << bad;
  }
}

TEST_P(QuantizerConformanceTest, ActivationsDequantizeWithinTheDTypeBound) {
  Tensor x = *RandomNormal({16, 512}, 5);
  auto layout = quantizer_->ActivationLayout(16, 512);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto q = quantizer_->QuantizeActivation(*ctx_, x);
  ASSERT_TRUE(q.ok()) << q.status();
  if (!layout->has_scales && layout->dtype == SY_DTYPE_F32) {
    EXPECT_EQ(q->values.raw_data(), x.raw_data()) << "weight-only: the input is used as is";
    return;
  }
  ExpectFaithful(*q, x, "activation");
}

// Experts components call quantize_activation themselves, without the host's pass-through of
// full-precision activations, so the plugin must honour its own layout in every mode.
TEST_P(QuantizerConformanceTest, QuantizeActivationThroughTheVtableHonoursTheLayout) {
  Tensor x = *RandomNormal({16, 512}, 6);
  auto layout = quantizer_->ActivationLayout(16, 512);
  ASSERT_TRUE(layout.ok()) << layout.status();
  QTensor q = *QTensor::Allocate(*layout, 16, 512);
  const sy_quantizer_ref ref = quantizer_->Ref();
  const sy_tensor in = x.ToC();
  sy_qtensor out = q.ToC();
  ASSERT_TRUE(
      TakePluginError(ref.vtable->quantize_activation(ref.self, ctx_->BeginCall(), &in, &out),
                      GetParam())
          .ok());
  ExpectFaithful(q, x, "activation");
}

TEST_P(QuantizerConformanceTest, RefusesNonFiniteQuantizedActivations) {
  auto layout = quantizer_->ActivationLayout(16, 512);
  ASSERT_TRUE(layout.ok());
  if (!layout->has_scales) GTEST_SKIP() << "weight-only: activations are not quantized";
  Tensor x = *RandomNormal({16, 512}, 7);
  x.data<float>()[77] = NAN;
  EXPECT_EQ(quantizer_->QuantizeActivation(*ctx_, x).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// An expert that receives no tokens still quantizes its (empty) input.
TEST_P(QuantizerConformanceTest, HandlesAnEmptyBatch) {
  Tensor x = *Tensor::Empty({0, 512}, DType::kF32);
  auto q = quantizer_->QuantizeActivation(*ctx_, x);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->values.numel(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllQuantizers, QuantizerConformanceTest,
                         ::testing::ValuesIn(ComponentNames(SY_KIND_QUANTIZER)),
                         [](const auto& info) { return ComponentTestName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QuantizerConformanceTest);

}  // namespace
}  // namespace sy
