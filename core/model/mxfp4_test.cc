#include "core/model/mxfp4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace sy {
namespace {

using ::testing::HasSubstr;

Tensor Bytes(const Shape& shape, const std::vector<uint8_t>& values) {
  Tensor t = *Tensor::Empty(shape, DType::kU8);
  std::copy(values.begin(), values.end(), t.data<uint8_t>());
  return t;
}

TEST(Mxfp4Test, DequantizesNibblesLowFirstTimesThePowerOfTwoScale) {
  // Two blocks. Block 0, scale 2^0: byte 0x21 -> element 0 = code 1 (0.5), element 1 = code 2
  // (1.0); byte 0xF7 -> 6.0 then code 15 (-6.0). Block 1, scale 2^-2 (125): byte 0x9C -> code 12
  // (-2.0) * 0.25 = -0.5, then code 9 (-0.5) * 0.25 = -0.125.
  std::vector<uint8_t> codes(32, 0);
  codes[0] = 0x21;
  codes[1] = 0xF7;
  codes[16] = 0x9C;
  auto w = DequantizeMxfp4(Bytes({2, 1, 16}, codes), Bytes({2, 1}, {127, 125}), "w_blocks");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->shape(), (Shape{2, 32}));
  EXPECT_EQ(w->Get(0), 0.5);
  EXPECT_EQ(w->Get(1), 1.0);
  EXPECT_EQ(w->Get(2), 6.0);
  EXPECT_EQ(w->Get(3), -6.0);
  EXPECT_EQ(w->Get(4), 0.0);
  EXPECT_EQ(w->Get(32), -0.5);
  EXPECT_EQ(w->Get(33), -0.125);
  // Scale byte 200: 2^73.
  auto big =
      DequantizeMxfp4(Bytes({1, 16}, std::vector<uint8_t>(16, 0x22)), Bytes({1}, {200}), "b");
  EXPECT_EQ(big->Get(0), std::ldexp(1.0, 73));
}

TEST(Mxfp4Test, RefusesABlockOfTheWrongSizeNamingTheTensor) {
  auto w = DequantizeMxfp4(Bytes({2, 8}, std::vector<uint8_t>(16, 0)), Bytes({2}, {127, 127}),
                           "model.layers.0.mlp.experts.down_proj_blocks");
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(),
              HasSubstr("'model.layers.0.mlp.experts.down_proj_blocks': an MXFP4 block is 16 bytes "
                        "(32 four-bit values), got 8"));
  auto scales = DequantizeMxfp4(Bytes({2, 16}, std::vector<uint8_t>(32, 0)), Bytes({3}, {1, 1, 1}),
                                "x_blocks");
  EXPECT_THAT(scales.status().message(), HasSubstr("scales must be u8 [2]"));
}

}  // namespace
}  // namespace sy
