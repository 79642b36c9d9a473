// quantizer.none, loaded from its .so: layouts, exact conversions (bit patterns worked out by
// hand, including round-half-even ties) and the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/support/quantizer_test_fixture.h"

namespace sy {
namespace {

using quant_test::Layout;
using quant_test::SameLayout;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

class NoneQuantizerTest : public quant_test::QuantizerPluginTest {
 protected:
  NoneQuantizerTest() : QuantizerPluginTest("sy_quantizer_none", "quantizer.none") {}

  // Quantizes `weight` with config dtype = `dtype` and returns the stored 16-bit patterns.
  std::vector<uint16_t> Stored16(const std::string& dtype, const Tensor& weight) {
    Quantizer q = *Create({{"dtype", {dtype}}});
    QTensor out = *q.QuantizeWeight(*ctx_, weight);
    const uint16_t* bits = out.values.data<uint16_t>();
    return std::vector<uint16_t>(bits, bits + out.values.numel());
  }
};

// 1 + 2^-8 and 1 + 3 * 2^-8 are exact ties in bf16; 1 + 2^-11 and 1 + 3 * 2^-11 in f16.
Tensor Examples(float tie_step) {
  return *Tensor::FromF32(
      {2, 4}, {1.0f, -2.5f, 0.1f, 3.0f, 1.0f + tie_step, 1.0f + 3 * tie_step, 65504.0f, -0.0f});
}

TEST_F(NoneQuantizerTest, LayoutsFollowTheConfiguredDType) {
  for (const auto& [name, dtype] : {std::pair<std::string, sy_dtype>{"bf16", SY_DTYPE_BF16},
                                    {"f16", SY_DTYPE_F16},
                                    {"f32", SY_DTYPE_F32}}) {
    Quantizer q = *Create({{"dtype", {name}}});
    EXPECT_TRUE(SameLayout(*q.WeightLayout(256, 512), Layout(dtype, 1, 1, false, false))) << name;
    EXPECT_TRUE(SameLayout(*q.ActivationLayout(16, 512), Layout(SY_DTYPE_F32, 1, 1, false, false)))
        << name;
  }
  EXPECT_TRUE(SameLayout(*Create()->WeightLayout(3, 5), Layout(SY_DTYPE_BF16, 1, 1, false, false)))
      << "the default is bf16";
}

TEST_F(NoneQuantizerTest, Bf16RoundsHalfToEven) {
  // 0.1f = 0x3dcccccd rounds up; 65504 = 0x477fe000 rounds up to 65536.
  EXPECT_THAT(Stored16("bf16", Examples(std::ldexp(1.0f, -8))),
              ElementsAre(0x3f80, 0xc020, 0x3dcd, 0x4040, 0x3f80, 0x3f82, 0x4780, 0x8000));
}

TEST_F(NoneQuantizerTest, F16RoundsHalfToEven) {
  EXPECT_THAT(Stored16("f16", Examples(std::ldexp(1.0f, -11))),
              ElementsAre(0x3c00, 0xc100, 0x2e66, 0x4200, 0x3c00, 0x3c02, 0x7bff, 0x8000));
}

TEST_F(NoneQuantizerTest, F32IsAnExactCopy) {
  Tensor w = Examples(1e-7f);
  QTensor out = *Create({{"dtype", {std::string("f32")}}})->QuantizeWeight(*ctx_, w);
  EXPECT_THAT(quant_test::Bytes(out.values), ElementsAreArray(quant_test::Bytes(w)));
}

TEST_F(NoneQuantizerTest, ActivationsStayF32) {
  Quantizer q = *Create();
  Tensor x = *Tensor::FromF32({1, 3}, {0.1f, -7.0f, 1e-30f});
  QTensor through_host = *q.QuantizeActivation(*ctx_, x);
  EXPECT_EQ(through_host.values.raw_data(), x.raw_data()) << "the host passes f32 through";

  // The plugin's own quantize_activation, as an experts component calls it, copies.
  QTensor out = *QTensor::Allocate(*q.ActivationLayout(1, 3), 1, 3);
  ASSERT_TRUE(RawQuantize(q, false, x, out).ok());
  EXPECT_THAT(quant_test::Bytes(out.values), ElementsAreArray(quant_test::Bytes(x)));
}

TEST_F(NoneQuantizerTest, RefusesNonFiniteInputNamingTheElement) {
  Quantizer q = *Create();
  Tensor w = *Tensor::FromF32({2, 3}, {1, 2, 3, 4, 5, NAN});
  auto out = q.QuantizeWeight(*ctx_, w);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("weight: element [1, 2] is NaN"));

  Tensor x = *Tensor::FromF32({1, 2}, {INFINITY, 0});
  QTensor qx = *QTensor::Allocate(*q.ActivationLayout(1, 2), 1, 2);
  EXPECT_THAT(std::string(RawQuantize(q, false, x, qx).message()),
              HasSubstr("activation: element [0, 0] is infinite"));
}

TEST_F(NoneQuantizerTest, RefusesWeightsThatOverflowF16) {
  Quantizer q = *Create({{"dtype", {std::string("f16")}}});
  auto out = q.QuantizeWeight(*ctx_, *Tensor::FromF32({1, 2}, {65519.0f, 65520.0f}));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("weight: element [0, 1] = 65520.000000 overflows f16"));
}

TEST_F(NoneQuantizerTest, RefusesBadArguments) {
  Quantizer q = *Create();
  Tensor w = *Tensor::FromF32({2, 2}, {1, 2, 3, 4});
  QTensor wrong_dtype = *QTensor::Allocate(Layout(SY_DTYPE_F16, 1, 1, false, false), 2, 2);
  EXPECT_THAT(std::string(RawQuantize(q, true, w, wrong_dtype).message()), HasSubstr("out:"));
  QTensor wrong_shape = *QTensor::Allocate(Layout(SY_DTYPE_BF16, 1, 1, false, false), 2, 3);
  EXPECT_THAT(std::string(RawQuantize(q, true, w, wrong_shape).message()),
              HasSubstr("out: expected [2, 2]"));
  QTensor out = *QTensor::Allocate(Layout(SY_DTYPE_BF16, 1, 1, false, false), 2, 2);
  EXPECT_THAT(
      std::string(RawQuantize(q, true, *Tensor::Zeros({2, 2}, DType::kBF16), out).message()),
      HasSubstr("weight: expected a contiguous CPU f32 tensor of rank 2"));
}

TEST_F(NoneQuantizerTest, RefusesAnUnknownDType) {
  auto q = Create({{"dtype", {std::string("fp8")}}});
  EXPECT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("dtype"));
}

}  // namespace
}  // namespace sy
