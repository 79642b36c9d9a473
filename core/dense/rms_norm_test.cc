#include "core/dense/rms_norm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sy {
namespace {

void ExpectNear(const Tensor& got, const std::vector<double>& want) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_LT(std::abs(got.Get(i) - want[i]), 1e-5 * std::abs(want[i]) + 1e-12) << i;
  }
}

// Row 0: mean(x^2) = 30 / 4 = 7.5; row 1: mean 4 plus eps 1e-6.
TEST(RmsNormTest, MatchesHandComputedRows) {
  Tensor x = *Tensor::FromF32({2, 4}, {1, 2, 3, 4, 2, 2, 2, 2});
  Tensor w = *Tensor::FromF32({4}, {1, 1, 2, 0.5});
  ExpectNear(*RmsNorm(x, w, 1e-6, 2),
             {1 / std::sqrt(7.5 + 1e-6), 2 / std::sqrt(7.5 + 1e-6), 6 / std::sqrt(7.5 + 1e-6),
              2 / std::sqrt(7.5 + 1e-6), 0.9999998750000235, 0.9999998750000235, 1.999999750000047,
              0.49999993750001176});
}

// Head 0 = (3, 4): mean 12.5; head 1 = (1, 1): mean 1. One weight (1, 2) for both heads.
TEST(RmsNormTest, HeadsNormalizeEachHeadOnItsOwn) {
  Tensor x = *Tensor::FromF32({1, 4}, {3, 4, 1, 1});
  Tensor w = *Tensor::FromF32({2}, {1, 2});
  ExpectNear(*RmsNormHeads(x, w, 2, 0.0), {0.848528137423857, 2.262741699796952, 1, 2});
}

TEST(RmsNormTest, RejectsMismatchedWeight) {
  Tensor x = *Tensor::Zeros({2, 4}, DType::kF32);
  Tensor w = *Tensor::Zeros({3}, DType::kF32);
  absl::StatusOr<Tensor> y = RmsNorm(x, w, 1e-6);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), testing::HasSubstr("weight f32[3]"));
  EXPECT_FALSE(RmsNormHeads(x, w, 2, 1e-6).ok());
  EXPECT_THAT(RmsNorm(*Tensor::Zeros({4}, DType::kF32), w, 1e-6).status().message(),
              testing::HasSubstr("RmsNorm x must be a contiguous 2-d CPU tensor of f32"));
}

}  // namespace
}  // namespace sy
