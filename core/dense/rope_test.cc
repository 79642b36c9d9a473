#include "core/dense/rope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace sy {
namespace {

std::vector<float> RandomValues(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// The rotate_half formula in double, one head of `head_dim` lanes, `rot` of them rotated,
// position p already divided by any linear factor.
std::vector<double> Reference(const float* x, int64_t head_dim, int64_t rot, double theta,
                              double p) {
  std::vector<double> out(x, x + head_dim);
  for (int64_t i = 0; i < rot / 2; ++i) {
    const double angle = p / std::pow(theta, 2.0 * i / rot);
    out[i] = x[i] * std::cos(angle) - x[i + rot / 2] * std::sin(angle);
    out[i + rot / 2] = x[i + rot / 2] * std::cos(angle) + x[i] * std::sin(angle);
  }
  return out;
}

void CheckAgainstReference(const RopeConfig& config, const std::vector<double>& positions,
                           const Tensor& positions_tensor) {
  const int64_t heads = 2;
  const int64_t tokens = static_cast<int64_t>(positions.size());
  const std::vector<float> values = RandomValues(tokens * heads * config.head_dim, 7);
  Tensor x = *Tensor::FromF32({tokens, heads * config.head_dim}, values);
  ASSERT_TRUE(ApplyRope(config, positions_tensor, x, heads, 3).ok());
  const int64_t rot = config.rotary_dim == 0 ? config.head_dim : config.rotary_dim;
  const double factor = config.scaling_type == "linear" ? config.factor : 1.0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * config.head_dim;
      const std::vector<double> want = Reference(values.data() + base, config.head_dim, rot,
                                                 config.theta, positions[t] / factor);
      for (int64_t d = 0; d < config.head_dim; ++d) {
        EXPECT_NEAR(x.Get(base + d), want[d], 1e-5 * std::max(1.0, std::abs(want[d])))
            << "token " << t << " head " << h << " lane " << d;
      }
    }
  }
}

Tensor I64(const std::vector<int64_t>& v) {
  Tensor t = *Tensor::Empty({static_cast<int64_t>(v.size())}, DType::kI64);
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

Tensor I32(const std::vector<int32_t>& v) {
  Tensor t = *Tensor::Empty({static_cast<int64_t>(v.size())}, DType::kI32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

TEST(RopeTest, MatchesTheFormula) {
  RopeConfig c{.head_dim = 8, .theta = 10000.0};
  CheckAgainstReference(c, {0, 1, 5, 100}, I64({0, 1, 5, 100}));
}

TEST(RopeTest, PositionZeroIsIdentity) {
  Tensor x = *Tensor::FromF32({1, 4}, {1, 2, 3, 4});
  ASSERT_TRUE(ApplyRope({.head_dim = 4}, I32({0}), x, 1).ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(x.Get(i), i + 1);
}

TEST(RopeTest, LinearScalingDividesPositions) {
  RopeConfig c{.head_dim = 8, .theta = 500.0, .scaling_type = "linear", .factor = 4.0};
  CheckAgainstReference(c, {3, 17, 64}, I32({3, 17, 64}));
}

TEST(RopeTest, PartialRotaryLeavesTheRestAlone) {
  RopeConfig c{.head_dim = 8, .theta = 10000.0, .rotary_dim = 4};
  CheckAgainstReference(c, {2, 9}, I64({2, 9}));
}

// Llama 3.1's numbers: the fastest frequency is kept, the slowest divided by the factor, and
// the band between lies strictly between the two.
TEST(RopeTest, Llama3ScalesLowFrequenciesOnly) {
  RopeConfig c{.head_dim = 128, .theta = 500000.0, .scaling_type = "llama3", .factor = 8.0};
  const std::vector<double> f = *RopeInverseFrequencies(c);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f[0], 1.0);
  const double slowest = 1.0 / std::pow(500000.0, 126.0 / 128);
  EXPECT_NEAR(f[63] / (slowest / 8), 1.0, 1e-12);
  int blended = 0;
  for (int i = 0; i < 64; ++i) {
    const double base = 1.0 / std::pow(500000.0, 2.0 * i / 128);
    const double wavelen = 2 * std::numbers::pi / base;
    if (wavelen > 2048 && wavelen < 8192) {
      EXPECT_LT(f[i], base);
      EXPECT_GT(f[i], base / 8);
      ++blended;
    }
  }
  EXPECT_GT(blended, 0);
}

TEST(RopeTest, YarnBlendsFrequenciesAsTransformersDoes) {
  // dim 8, theta 1e4, factor 4 over 64 original positions: the correction dims are
  // 8 ln(64 / (32 * 2 pi)) / (2 ln 1e4) = -0.497 -> floor 0 and 8 ln(64 / 2 pi) / (2 ln 1e4) =
  // 1.008 -> ceil 2, so the extrapolation weights are 1, 0.5, 0, 0.
  const RopeConfig c{.head_dim = 8,
                     .theta = 10000,
                     .scaling_type = "yarn",
                     .factor = 4,
                     .original_max_position_embeddings = 64};
  const std::vector<double> f = *RopeInverseFrequencies(c);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_NEAR(f[1], 0.1 / 4 * 0.5 + 0.1 * 0.5, 1e-12);
  EXPECT_NEAR(f[2], 0.01 / 4, 1e-12);
  EXPECT_NEAR(f[3], 0.001 / 4, 1e-12);
}

TEST(RopeTest, YarnMscaleAndAttentionFactor) {
  EXPECT_DOUBLE_EQ(YarnMscale(1.0, 1.0), 1.0);
  EXPECT_NEAR(YarnMscale(40, 1.0), 0.1 * std::log(40.0) + 1, 1e-12);  // 1.36889
  // DeepSeek-V3: mscale == mscale_all_dim, so cos/sin are unscaled and the softmax scale
  // 192^-0.5 gets mscale(40)^2 instead.
  RopeConfig v3{
      .head_dim = 64, .scaling_type = "yarn", .factor = 40, .mscale = 1, .mscale_all_dim = 1};
  EXPECT_DOUBLE_EQ(RopeAttentionFactor(v3), 1.0);
  EXPECT_NEAR(std::pow(192.0, -0.5) * std::pow(YarnMscale(40, 1), 2), 0.135234, 1e-6);
  // gpt-oss: no mscale fields, factor 32 -> 0.1 ln 32 + 1.
  RopeConfig oss{.head_dim = 64, .scaling_type = "yarn", .factor = 32};
  EXPECT_NEAR(RopeAttentionFactor(oss), 1.346574, 1e-6);
  oss.attention_factor = 0.5;
  EXPECT_DOUBLE_EQ(RopeAttentionFactor(oss), 0.5);
  EXPECT_DOUBLE_EQ(RopeAttentionFactor({.head_dim = 8}), 1.0);
  // ApplyRope scales cos and sin by it: position 0 multiplies every lane by the factor.
  Tensor x = *Tensor::FromF32({1, 4}, {1, 2, 3, 4});
  oss.head_dim = 4;
  ASSERT_TRUE(ApplyRope(oss, I32({0}), x, 1).ok());
  EXPECT_FLOAT_EQ(x.Get(3), 2.0f);
}

TEST(RopeTest, InterleavedRotatesAdjacentPairs) {
  const RopeConfig c{.head_dim = 4, .theta = 100, .interleaved = true};
  Tensor x = *Tensor::FromF32({1, 4}, {1, 2, 3, 4});
  ASSERT_TRUE(ApplyRope(c, I32({3}), x, 1).ok());
  // Pair (x0, x1) at frequency 1, pair (x2, x3) at 100^(-1/2) = 0.1.
  const double a0 = 3.0, a1 = 0.3;
  EXPECT_NEAR(x.Get(0), 1 * std::cos(a0) - 2 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x.Get(1), 2 * std::cos(a0) + 1 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x.Get(2), 3 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
  EXPECT_NEAR(x.Get(3), 4 * std::cos(a1) + 3 * std::sin(a1), 1e-6);
}

TEST(RopeTest, RefusesUnsupportedScalingAndBadShapes) {
  absl::StatusOr<std::vector<double>> f =
      RopeInverseFrequencies({.head_dim = 8, .scaling_type = "longrope", .factor = 4});
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(f.status().message(), testing::HasSubstr("\"longrope\""));
  Tensor x = *Tensor::Zeros({2, 8}, DType::kF32);
  EXPECT_THAT(ApplyRope({.head_dim = 8}, I32({0}), x, 1).message(),
              testing::HasSubstr("positions i32[1]"));
  EXPECT_FALSE(ApplyRope({.head_dim = 8, .rotary_dim = 3}, I32({0, 1}), x, 1).ok());
}

}  // namespace
}  // namespace sy
