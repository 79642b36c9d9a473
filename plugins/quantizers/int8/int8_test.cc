// quantizer.int8, loaded from its .so: layouts, examples worked out by hand (power-of-two
// scales, round-half-even ties) and the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/tensor/tensor_random.h"
#include "tests/support/quantizer_test_fixture.h"

namespace sy {
namespace {

using quant_test::Layout;
using quant_test::SameLayout;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Int8QuantizerTest : public quant_test::QuantizerPluginTest {
 protected:
  Int8QuantizerTest() : QuantizerPluginTest("sy_quantizer_int8", "quantizer.int8") {}
};

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}
std::vector<int8_t> Codes(const QTensor& q) {
  return std::vector<int8_t>(q.values.data<int8_t>(), q.values.data<int8_t>() + q.values.numel());
}

TEST_F(Int8QuantizerTest, Layouts) {
  Quantizer weight_only = *Create();
  EXPECT_TRUE(
      SameLayout(*weight_only.WeightLayout(256, 512), Layout(SY_DTYPE_I8, 1, 512, true, false)));
  EXPECT_TRUE(
      SameLayout(*weight_only.ActivationLayout(16, 512), Layout(SY_DTYPE_F32, 1, 1, false, false)));
  Quantizer per_token = *Create({{"activations", {std::string("perToken")}}});
  EXPECT_TRUE(
      SameLayout(*per_token.ActivationLayout(16, 512), Layout(SY_DTYPE_I8, 1, 512, true, false)));
}

TEST_F(Int8QuantizerTest, PerChannelScalesAndCodesByHand) {
  // Row 0: amax 127, scale 1; -63.5, 0.5 and 1.5 are ties and go to -64, 0 and 2.
  // Row 1: amax 254, scale 2; w / 2 = 127, 0.5, 1.5, -2.5 -> 127, 0, 2, -2.
  // Row 2: all zero, scale 1.
  Tensor w = *Tensor::FromF32({3, 4}, {127, -63.5f, 0.5f, 1.5f, 254, 1, 3, -5, 0, 0, 0, 0});
  QTensor q = *Create()->QuantizeWeight(*ctx_, w);
  EXPECT_THAT(Floats(q.scales), ElementsAre(1, 2, 1));
  EXPECT_THAT(Codes(q), ElementsAre(127, -64, 0, 2, 127, 0, 2, -2, 0, 0, 0, 0));
  EXPECT_THAT(Floats(*q.Dequantize()), ElementsAre(127, -64, 0, 2, 254, 0, 4, -4, 0, 0, 0, 0));
}

TEST_F(Int8QuantizerTest, RangeIsSymmetricAndNeverUsesMinus128) {
  Tensor w = *RandomNormal({64, 300}, 11);
  for (int r = 0; r < 64; ++r) w.data<float>()[r * 300 + r] = -10.0f;  // each row's amax
  QTensor q = *Create()->QuantizeWeight(*ctx_, w);
  for (int r = 0; r < 64; ++r) {
    EXPECT_EQ(q.values.data<int8_t>()[r * 300 + r], -127) << "row " << r;
    EXPECT_EQ(q.scales.data<float>()[r], 10.0f / 127.0f);
  }
  EXPECT_THAT(Codes(q), Each(::testing::Ge(-127)));
}

TEST_F(Int8QuantizerTest, PerTokenActivationsByHand) {
  Quantizer q = *Create({{"activations", {std::string("perToken")}}});
  QTensor out =
      *q.QuantizeActivation(*ctx_, *Tensor::FromF32({2, 4}, {-254, 1, 3, -5, 0, 0, 0, 0}));
  EXPECT_THAT(Floats(out.scales), ElementsAre(2, 1));
  EXPECT_THAT(Codes(out), ElementsAre(-127, 0, 2, -2, 0, 0, 0, 0));
}

TEST_F(Int8QuantizerTest, WeightOnlyActivationsAreCopied) {
  Quantizer q = *Create();
  Tensor x = *Tensor::FromF32({1, 3}, {0.1f, -2, 1e20f});
  QTensor out = *QTensor::Allocate(*q.ActivationLayout(1, 3), 1, 3);
  ASSERT_TRUE(RawQuantize(q, false, x, out).ok());
  EXPECT_THAT(Floats(out.values), ElementsAre(0.1f, -2, 1e20f));
}

TEST_F(Int8QuantizerTest, RefusesNonFiniteInputNamingTheElement) {
  auto w = Create()->QuantizeWeight(*ctx_, *Tensor::FromF32({2, 2}, {1, 2, NAN, 4}));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("weight: element [1, 0] is NaN"));
  Quantizer per_token = *Create({{"activations", {std::string("perToken")}}});
  auto x = per_token.QuantizeActivation(*ctx_, *Tensor::FromF32({1, 2}, {INFINITY, 2}));
  EXPECT_THAT(std::string(x.status().message()),
              HasSubstr("activation: element [0, 0] is infinite"));
}

TEST_F(Int8QuantizerTest, RefusesOutputAllocatedForAnotherLayout) {
  Quantizer q = *Create();
  QTensor fp8 = *QTensor::Allocate(Layout(SY_DTYPE_FP8_E4M3, 1, 4, true, false), 2, 4);
  EXPECT_THAT(std::string(RawQuantize(q, true, *RandomNormal({2, 4}, 1), fp8).message()),
              HasSubstr("out: allocated as fp8_e4m3"));
}

TEST_F(Int8QuantizerTest, RefusesAnUnknownActivationMode) {
  auto q = Create({{"activations", {std::string("perChannel")}}});
  EXPECT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("activations"));
}

}  // namespace
}  // namespace sy
