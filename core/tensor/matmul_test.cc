#include "core/tensor/matmul.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

TEST(MatMulTest, MatchesAPlainTripleLoop) {
  Tensor a = *RandomNormal({5, 7}, 1);
  Tensor b = *RandomNormal({3, 7}, 2);
  Tensor c = *MatMulTransposed(a, b);
  ASSERT_EQ(c.shape(), (Shape{5, 3}));
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 3; ++j) {
      double expected = 0;
      for (int k = 0; k < 7; ++k) expected += a.Get(i * 7 + k) * b.Get(j * 7 + k);
      EXPECT_NEAR(c.Get(i * 3 + j), expected, 1e-5);
    }
  }
}

TEST(MatMulTest, RefusesMismatchedShapes) {
  EXPECT_THAT(std::string(MatMulTransposed(*RandomNormal({2, 3}, 1), *RandomNormal({2, 4}, 1)).status().message()),
              ::testing::HasSubstr("inner dimensions differ"));
  EXPECT_FALSE(MatMulTransposed(*Tensor::Empty({2, 3}, DType::kBF16), *RandomNormal({2, 3}, 1)).ok());
  EXPECT_EQ(MatMulTransposed(*Tensor::Empty({0, 3}, DType::kF32), *RandomNormal({2, 3}, 1))->numel(), 0);
}

}  // namespace
}  // namespace sy
