// Scalar conversions of dtype.hpp against values worked out by hand from the formats' bit
// layouts, plus exhaustive round trips.
#include "switchyard/dtype.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sy {
namespace {

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeBytes(DType::kF32, 3), 12);
  EXPECT_EQ(DTypeBytes(DType::kBF16, 3), 6);
  EXPECT_EQ(DTypeBytes(DType::kI4, 3), 2);
  EXPECT_EQ(DTypeBytes(DType::kI64, 1), 8);
  EXPECT_EQ(DTypeFromName("bfloat16"), DType::kBF16);
  EXPECT_EQ(DTypeFromName(DTypeName(DType::kFP8E4M3)), DType::kFP8E4M3);
  EXPECT_EQ(DTypeFromName("float8"), DType::kInvalid);
}

TEST(DTypeTest, BF16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(F32ToBF16(-2.0f), 0xc000);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties go to the even mantissa.
  EXPECT_EQ(F32ToBF16(1.00390625f), 0x3f80);
  EXPECT_EQ(F32ToBF16(1.01171875f), 0x3f82);  // 1 + 3*2^-8: halfway, rounds up to even
  EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(NAN))));
  EXPECT_EQ(BF16ToF32(F32ToBF16(INFINITY)), INFINITY);
}

TEST(DTypeTest, F16MatchesIeeeBinary16) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.5f), 0xc100);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);               // largest finite
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);               // rounds to infinity
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -26)), 0x0000);  // underflows to zero
  EXPECT_EQ(F16ToF32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(NAN))));
  for (uint32_t h = 0; h < 0x10000; ++h) {  // every non-NaN half survives a round trip
    const float f = F16ToF32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      EXPECT_EQ(F32ToF16(f), h) << h;
    }
  }
}

TEST(DTypeTest, FP8E4M3MatchesTheFormat) {
  EXPECT_EQ(F32ToFP8E4M3(1.0f), 0x38);     // exponent 7 (bias 7), mantissa 0
  EXPECT_EQ(F32ToFP8E4M3(448.0f), 0x7e);   // largest finite
  EXPECT_EQ(F32ToFP8E4M3(1000.0f), 0x7e);  // saturates
  EXPECT_EQ(F32ToFP8E4M3(-1000.0f), 0xfe);
  EXPECT_EQ(F32ToFP8E4M3(std::ldexp(1.0f, -9)), 0x01);  // smallest subnormal
  EXPECT_EQ(F32ToFP8E4M3(std::ldexp(1.0f, -6)), 0x08);  // smallest normal
  EXPECT_EQ(F32ToFP8E4M3(1.0625f), 0x38);               // halfway between 1 and 1.125: ties to even
  EXPECT_EQ(F32ToFP8E4M3(1.1875f), 0x3a);  // halfway between 1.125 and 1.25: up to even
  EXPECT_EQ(F32ToFP8E4M3(NAN), 0x7f);
  EXPECT_EQ(FP8E4M3ToF32(0x7e), 448.0f);
  EXPECT_EQ(FP8E4M3ToF32(0xb8), -1.0f);
  EXPECT_TRUE(std::isnan(FP8E4M3ToF32(0x7f)));
  for (int b = 0; b < 256; ++b) {
    const float f = FP8E4M3ToF32(static_cast<uint8_t>(b));
    if (!std::isnan(f) && b != 0x80) {
      EXPECT_EQ(F32ToFP8E4M3(f), b) << b;
    }
  }
}

TEST(DTypeTest, IntegersRoundAndSaturate) {
  EXPECT_EQ(F32ToSaturatedInt(2.5f, -128, 127), 2);
  EXPECT_EQ(F32ToSaturatedInt(3.5f, -128, 127), 4);
  EXPECT_EQ(F32ToSaturatedInt(1e9f, -128, 127), 127);
  EXPECT_EQ(F32ToSaturatedInt(-1e9f, -8, 7), -8);
  EXPECT_EQ(F32ToSaturatedInt(NAN, -8, 7), 0);
}

TEST(DTypeTest, NibblesPackLowFirst) {
  uint8_t packed[2] = {0, 0};
  SetNibble(packed, 0, 0x3);
  SetNibble(packed, 1, 0xa);
  SetNibble(packed, 2, 0xf);
  EXPECT_EQ(packed[0], 0xa3);
  EXPECT_EQ(packed[1], 0x0f);
  EXPECT_EQ(GetNibble(packed, 1), 0xa);
  EXPECT_EQ(SignExtendNibble(0xa), -6);
  EXPECT_EQ(SignExtendNibble(0x7), 7);
}

}  // namespace
}  // namespace sy
