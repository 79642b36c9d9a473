#include "core/tensor/qtensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy {
namespace {

using ::testing::HasSubstr;

TEST(QTensorTest, DequantizesBlocksWithScalesAndZeroPoints) {
  // 2x4 u4 matrix in (1, 2) blocks: element = (q - zero) * scale.
  const sy_qlayout layout = {sizeof(sy_qlayout), SY_DTYPE_U4, 1, 2, 1, 1};
  QTensor q = *QTensor::Allocate(layout, 2, 4);
  const uint8_t nibbles[8] = {1, 2, 3, 4, 15, 0, 8, 9};
  for (int i = 0; i < 8; ++i) SetNibble(q.values.data<uint8_t>(), i, nibbles[i]);
  const float scales[4] = {0.5f, 2.0f, 1.0f, 0.25f};
  const uint8_t zeros[4] = {1, 0, 8, 8};
  for (int i = 0; i < 4; ++i) {
    q.scales.data<float>()[i] = scales[i];
    q.zeros.data<uint8_t>()[i] = zeros[i];
  }
  Tensor d = *q.Dequantize();
  const float expected[8] = {0.0f, 0.5f, 6.0f, 8.0f, 7.0f, -8.0f, 0.0f, 0.25f};
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(d.Get(i), expected[i]) << i;
  EXPECT_EQ(q.nbytes(), 4 + 16 + 4);
  EXPECT_EQ(q.DescribeLayout(), "u4 blocks 1x2 with scales and zero points");
}

TEST(QTensorTest, ScaleGridRoundsUpForPartialBlocks) {
  const sy_qlayout layout = {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 128, 128, 1, 0};
  QTensor q = *QTensor::Allocate(layout, 300, 130);
  EXPECT_EQ(q.scales.shape(), (Shape{3, 2}));
  EXPECT_FALSE(q.zeros.defined());
}

TEST(QTensorTest, RefusesInconsistentLayouts) {
  EXPECT_THAT(std::string(QTensor::Allocate({sizeof(sy_qlayout), SY_DTYPE_I8, 1, 4, 0, 0}, 2, 4).status().message()),
              HasSubstr("i8 values need scales"));
  EXPECT_THAT(std::string(QTensor::Allocate({sizeof(sy_qlayout), SY_DTYPE_U4, 1, 3, 1, 0}, 2, 3).status().message()),
              HasSubstr("even column count"));
  EXPECT_THAT(std::string(QTensor::Allocate({sizeof(sy_qlayout), SY_DTYPE_F32, 0, 1, 0, 0}, 2, 3).status().message()),
              HasSubstr("not positive"));
  EXPECT_THAT(std::string(QTensor::Allocate({sizeof(sy_qlayout), SY_DTYPE_F32, 1, 1, 0, 1}, 2, 3).status().message()),
              HasSubstr("zero points need scales"));
}

TEST(QTensorTest, UnquantizedSharesMemory) {
  Tensor w = *Tensor::FromF32({2, 2}, {1, 2, 3, 4});
  QTensor q = *QTensor::Unquantized(w);
  EXPECT_EQ(q.values.raw_data(), w.raw_data());
  EXPECT_EQ(q.Dequantize()->Get(3), 4.0);
}

}  // namespace
}  // namespace sy
