// quantizer.int4, loaded from its .so: the layout and its shape errors, examples worked out by
// hand (scales, zero points, packed nibbles, round-half-even ties) and the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/tensor/tensor_random.h"
#include "tests/support/quantizer_test_fixture.h"

namespace sy {
namespace {

using quant_test::Layout;
using quant_test::SameLayout;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Int4QuantizerTest : public quant_test::QuantizerPluginTest {
 protected:
  Int4QuantizerTest() : QuantizerPluginTest("sy_quantizer_int4", "quantizer.int4") {}

  QTensor QuantizeWeight(int64_t group, const Tensor& w) {
    auto q = Create({{"group", {group}}});
    EXPECT_TRUE(q.ok()) << q.status();
    auto out = q->QuantizeWeight(*ctx_, w);
    EXPECT_TRUE(out.ok()) << out.status();
    return *out;
  }
};

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST_F(Int4QuantizerTest, Layouts) {
  Quantizer q = *Create();
  EXPECT_TRUE(SameLayout(*q.WeightLayout(256, 512), Layout(SY_DTYPE_U4, 1, 128, true, true)));
  EXPECT_TRUE(SameLayout(*q.ActivationLayout(16, 512), Layout(SY_DTYPE_F32, 1, 1, false, false)));
  EXPECT_TRUE(SameLayout(*Create({{"group", {int64_t{32}}}})->WeightLayout(4, 64),
                         Layout(SY_DTYPE_U4, 1, 32, true, true)));
}

TEST_F(Int4QuantizerTest, GroupMustDivideTheColumns) {
  auto layout = Create()->WeightLayout(8, 100);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()),
              HasSubstr("int4 group size 128 does not divide 100 columns"));
  EXPECT_FALSE(Create()->QuantizeWeight(*ctx_, *RandomNormal({2, 100}, 1)).ok());
}

TEST_F(Int4QuantizerTest, ColumnsMustBeEvenForPacking) {
  auto layout = Create({{"group", {int64_t{3}}}})->WeightLayout(8, 9);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()), HasSubstr("even column count, got 9"));
}

TEST_F(Int4QuantizerTest, ScalesZeroPointsAndNibblesByHand) {
  // Groups of 2:
  //   {-5, 10}:      lo -5, hi 10, scale 1,   zero 5,  q = 0, 15
  //   {2, 7.5}:      lo 0,  hi 7.5, scale 0.5, zero 0,  q = 4, 15
  //   {-7.5, -1.25}: lo -7.5, hi 0, scale 0.5, zero 15, q = 0, round(-2.5) + 15 = 13
  //   {0, 0}:        scale 1, zero 0, q = 0, 0
  QTensor q = QuantizeWeight(2, *Tensor::FromF32({2, 4}, {-5, 10, 2, 7.5f, -7.5f, -1.25f, 0, 0}));
  EXPECT_THAT(Floats(q.scales), ElementsAre(1, 0.5f, 0.5f, 1));
  EXPECT_THAT(quant_test::Bytes(q.zeros), ElementsAre(5, 0, 15, 0));
  EXPECT_THAT(quant_test::Bytes(q.values), ElementsAre(0xf0, 0xf4, 0xd0, 0x00));
  EXPECT_THAT(Floats(*q.Dequantize()), ElementsAre(-5, 10, 2, 7.5f, -7.5f, -1, 0, 0));
}

TEST_F(Int4QuantizerTest, ZeroPointTiesRoundToEven) {
  // {-2.5, 12.5}: scale 1, zero = round(2.5) = 2, q = round(-2.5) + 2 = 0, round(12.5) + 2 = 14.
  QTensor q = QuantizeWeight(2, *Tensor::FromF32({1, 2}, {-2.5f, 12.5f}));
  EXPECT_THAT(quant_test::Bytes(q.zeros), ElementsAre(2));
  EXPECT_THAT(quant_test::Bytes(q.values), ElementsAre(0xe0));
}

TEST_F(Int4QuantizerTest, ZeroIsExact) {
  Tensor w = *RandomNormal({16, 256}, 7);
  for (int i = 0; i < 16 * 256; i += 5) w.data<float>()[i] = 0.0f;
  Tensor d = *QuantizeWeight(128, w).Dequantize();
  for (int i = 0; i < 16 * 256; i += 5) ASSERT_EQ(d.data<float>()[i], 0.0f) << i;
}

TEST_F(Int4QuantizerTest, ActivationsStayF32) {
  Quantizer q = *Create();
  Tensor x = *Tensor::FromF32({1, 3}, {0.1f, -2, 1e20f});
  EXPECT_EQ(q.QuantizeActivation(*ctx_, x)->values.raw_data(), x.raw_data());
  QTensor out = *QTensor::Allocate(*q.ActivationLayout(1, 3), 1, 3);
  ASSERT_TRUE(RawQuantize(q, false, x, out).ok());
  EXPECT_THAT(Floats(out.values), ElementsAre(0.1f, -2, 1e20f));
}

TEST_F(Int4QuantizerTest, RefusesNonFiniteWeightsNamingTheElement) {
  Tensor bad = *RandomNormal({2, 128}, 1);
  bad.data<float>()[128 + 17] = NAN;
  auto out = Create()->QuantizeWeight(*ctx_, bad);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("weight: element [1, 17] is NaN"));
}

TEST_F(Int4QuantizerTest, RefusesBadGroupSizesNamingTheField) {
  for (int64_t group : {0, 1}) {
    auto q = Create({{"group", {group}}});
    EXPECT_FALSE(q.ok()) << group;
    EXPECT_THAT(std::string(q.status().message()), HasSubstr("group")) << group;
  }
}

}  // namespace
}  // namespace sy
