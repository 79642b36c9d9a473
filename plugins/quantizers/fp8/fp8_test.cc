// quantizer.fp8, loaded from its .so: layouts for every granularity, examples worked out by
// hand (scales chosen as powers of two so every code is exact), and the error cases.
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

class Fp8QuantizerTest : public quant_test::QuantizerPluginTest {
 protected:
  Fp8QuantizerTest() : QuantizerPluginTest("sy_quantizer_fp8", "quantizer.fp8") {}

  QTensor QuantizeWeight(ConfigTable config, const Tensor& w) {
    auto q = Create(std::move(config));
    EXPECT_TRUE(q.ok()) << q.status();
    auto out = q->QuantizeWeight(*ctx_, w);
    EXPECT_TRUE(out.ok()) << out.status();
    return *out;
  }
};

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}
std::vector<uint8_t> Codes(const QTensor& q) { return quant_test::Bytes(q.values); }

// Column blocks 0-1 hold {7, -1, 1.0625, 3.5}; columns 2-3 are all zero.
Tensor Example() { return *Tensor::FromF32({2, 4}, {7, -1, 0, 0, 1.0625f, 3.5f, 0, 0}); }

TEST_F(Fp8QuantizerTest, DefaultIsDeepSeekStyleBlocks) {
  Quantizer q = *Create();
  EXPECT_TRUE(
      SameLayout(*q.WeightLayout(256, 512), Layout(SY_DTYPE_FP8_E4M3, 128, 128, true, false)));
  EXPECT_TRUE(
      SameLayout(*q.ActivationLayout(16, 512), Layout(SY_DTYPE_FP8_E4M3, 1, 128, true, false)));
}

TEST_F(Fp8QuantizerTest, LayoutsForEachGranularity) {
  const sy_dtype fp8 = SY_DTYPE_FP8_E4M3;
  Quantizer tensor = *Create({{"granularity", {std::string("tensor")}}});
  EXPECT_TRUE(SameLayout(*tensor.WeightLayout(256, 512), Layout(fp8, 256, 512, true, false)));
  EXPECT_TRUE(SameLayout(*tensor.ActivationLayout(16, 512), Layout(fp8, 16, 512, true, false)));
  Quantizer channel = *Create({{"granularity", {std::string("channel")}}});
  EXPECT_TRUE(SameLayout(*channel.WeightLayout(256, 512), Layout(fp8, 1, 512, true, false)));
  EXPECT_TRUE(SameLayout(*channel.ActivationLayout(16, 512), Layout(fp8, 1, 512, true, false)));
  Quantizer block = *Create({{"block", {int64_t{64}}}});
  EXPECT_TRUE(SameLayout(*block.WeightLayout(256, 512), Layout(fp8, 64, 64, true, false)));
  EXPECT_TRUE(SameLayout(*block.ActivationLayout(16, 512), Layout(fp8, 1, 64, true, false)));
  Quantizer weight_only = *Create({{"activations", {std::string("weightOnly")}}});
  EXPECT_TRUE(
      SameLayout(*weight_only.ActivationLayout(16, 512), Layout(SY_DTYPE_F32, 1, 1, false, false)));
}

TEST_F(Fp8QuantizerTest, BlockScalesAndCodesByHand) {
  // Block (0, 0): amax 7, scale 7/448 = 1/64; w * 64 = 448, -64, 68, 224. 68 lies halfway
  // between the e4m3 neighbours 64 and 72 and rounds to the even mantissa: 64.
  // Block (0, 1) is all zero and gets scale 1.
  QTensor q = QuantizeWeight({{"block", {int64_t{2}}}}, Example());
  EXPECT_THAT(Floats(q.scales), ElementsAre(1.0f / 64, 1.0f));
  EXPECT_THAT(Codes(q), ElementsAre(0x7e, 0xe8, 0x00, 0x00, 0x68, 0x76, 0x00, 0x00));
  EXPECT_THAT(Floats(*q.Dequantize()), ElementsAre(7, -1, 0, 0, 1, 3.5f, 0, 0));
}

TEST_F(Fp8QuantizerTest, ChannelScalesByHand) {
  // Row 1: amax 3.5, scale 1/128; 1.0625 * 128 = 136 is a tie between 128 and 144: 128.
  QTensor q = QuantizeWeight({{"granularity", {std::string("channel")}}}, Example());
  EXPECT_THAT(Floats(q.scales), ElementsAre(1.0f / 64, 1.0f / 128));
  EXPECT_THAT(Codes(q), ElementsAre(0x7e, 0xe8, 0x00, 0x00, 0x70, 0x7e, 0x00, 0x00));
}

TEST_F(Fp8QuantizerTest, TensorScaleByHand) {
  QTensor q = QuantizeWeight({{"granularity", {std::string("tensor")}}}, Example());
  EXPECT_EQ(q.scales.shape(), (Shape{1, 1}));
  EXPECT_THAT(Floats(q.scales), ElementsAre(1.0f / 64));
  EXPECT_THAT(Codes(q), ElementsAre(0x7e, 0xe8, 0x00, 0x00, 0x68, 0x76, 0x00, 0x00));
}

TEST_F(Fp8QuantizerTest, DynamicActivationsPerTokenGroup) {
  // Groups of 2: amax 7 -> scale 1/64; amax 0.875 -> 0.875/448 = 1/512, 0.5 * 512 = 256.
  Quantizer q = *Create({{"block", {int64_t{2}}}});
  QTensor out = *q.QuantizeActivation(*ctx_, *Tensor::FromF32({1, 4}, {7, -1, 0.875f, 0.5f}));
  EXPECT_THAT(Floats(out.scales), ElementsAre(1.0f / 64, 1.0f / 512));
  EXPECT_THAT(Codes(out), ElementsAre(0x7e, 0xe8, 0x7e, 0x78));
}

TEST_F(Fp8QuantizerTest, PartialBlocksAtTheEdgesGetTheirOwnScales) {
  Tensor w = *RandomNormal({200, 130}, 3);
  QTensor q = QuantizeWeight({}, w);
  ASSERT_EQ(q.scales.shape(), (Shape{2, 2}));
  for (int br = 0; br < 2; ++br) {
    for (int bc = 0; bc < 2; ++bc) {
      float amax = 0;
      for (int r = br * 128; r < std::min(200, br * 128 + 128); ++r) {
        for (int c = bc * 128; c < std::min(130, bc * 128 + 128); ++c) {
          amax = std::max(amax, std::fabs(w.data<float>()[r * 130 + c]));
        }
      }
      EXPECT_EQ(q.scales.data<float>()[br * 2 + bc], amax / 448.0f) << br << "," << bc;
    }
  }
}

TEST_F(Fp8QuantizerTest, WeightOnlyActivationsAreCopied) {
  Quantizer q = *Create({{"activations", {std::string("weightOnly")}}});
  Tensor x = *Tensor::FromF32({1, 3}, {0.1f, -2, 1e20f});
  QTensor out = *QTensor::Allocate(*q.ActivationLayout(1, 3), 1, 3);
  ASSERT_TRUE(RawQuantize(q, false, x, out).ok());
  EXPECT_THAT(Floats(out.values), ElementsAre(0.1f, -2, 1e20f));
}

TEST_F(Fp8QuantizerTest, RefusesNonFiniteInputNamingTheElement) {
  Quantizer q = *Create();
  auto w = q.QuantizeWeight(*ctx_, *Tensor::FromF32({2, 2}, {1, NAN, 3, 4}));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("weight: element [0, 1] is NaN"));
  auto x = q.QuantizeActivation(*ctx_, *Tensor::FromF32({2, 2}, {1, 2, 3, -INFINITY}));
  EXPECT_THAT(std::string(x.status().message()),
              HasSubstr("activation: element [1, 1] is infinite"));
}

TEST_F(Fp8QuantizerTest, RefusesOutputAllocatedForAnotherLayout) {
  Quantizer q = *Create();
  Tensor w = *RandomNormal({4, 8}, 1);
  QTensor channel = *QTensor::Allocate(Layout(SY_DTYPE_FP8_E4M3, 1, 8, true, false), 4, 8);
  EXPECT_THAT(std::string(RawQuantize(q, true, w, channel).message()),
              HasSubstr("out: allocated as fp8_e4m3 blocks 1x8"));
}

TEST_F(Fp8QuantizerTest, RefusesBadConfigsNamingTheField) {
  auto zero_block = Create({{"block", {int64_t{0}}}});
  EXPECT_FALSE(zero_block.ok());
  EXPECT_THAT(std::string(zero_block.status().message()), HasSubstr("block"));
  auto bad_granularity = Create({{"granularity", {std::string("row")}}});
  EXPECT_FALSE(bad_granularity.ok());
  EXPECT_THAT(std::string(bad_granularity.status().message()), HasSubstr("granularity"));
}

}  // namespace
}  // namespace sy
