#include "core/ab/ab_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sy::ab {
namespace {

using ::testing::ElementsAre;

TEST(AbStatsTest, LogSoftmaxNormalizes) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const std::vector<double> log_p = LogSoftmax(logits.data(), 3);
  double total = 0;
  for (double v : log_p) total += std::exp(v);
  EXPECT_NEAR(total, 1.0, 1e-12);
  // log softmax is shift-invariant: 1000 added to every logit changes nothing.
  const std::vector<float> shifted = {1001.0f, 1002.0f, 1003.0f};
  EXPECT_NEAR(LogSoftmax(shifted.data(), 3)[2], log_p[2], 1e-9);
}

TEST(AbStatsTest, KlOfIdenticalDistributionsIsZero) {
  const std::vector<float> logits = {0.3f, -1.2f, 2.5f, 0.0f};
  const std::vector<double> log_p = LogSoftmax(logits.data(), 4);
  EXPECT_EQ(KlDivergence(log_p, log_p), 0.0);
}

TEST(AbStatsTest, KlOfKnownDistributionsMatchesTheHandValue) {
  // P = (1/2, 1/2), Q = (1/4, 3/4):
  // KL = 1/2·ln((1/2)/(1/4)) + 1/2·ln((1/2)/(3/4)) = 1/2·ln 2 + 1/2·ln(2/3) = 1/2·ln(4/3).
  const std::vector<double> log_p = {std::log(0.5), std::log(0.5)};
  const std::vector<double> log_q = {std::log(0.25), std::log(0.75)};
  EXPECT_NEAR(KlDivergence(log_p, log_q), 0.5 * std::log(4.0 / 3.0), 1e-12);
  EXPECT_NEAR(0.5 * std::log(4.0 / 3.0), 0.1438410362, 1e-9);
  // Not symmetric: KL(Q‖P) = 1/4·ln(1/2) + 3/4·ln(3/2).
  EXPECT_NEAR(KlDivergence(log_q, log_p), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-12);
}

TEST(AbStatsTest, KlFromLogitsMatchesTheHandValue) {
  // Logits (0, ln 3) are the probabilities (1/4, 3/4).
  const std::vector<float> p = {0.0f, 0.0f};
  const std::vector<float> q = {0.0f, static_cast<float>(std::log(3.0))};
  EXPECT_NEAR(KlDivergence(LogSoftmax(p.data(), 2), LogSoftmax(q.data(), 2)),
              0.5 * std::log(4.0 / 3.0), 1e-7);
}

TEST(AbStatsTest, PercentileInterpolatesBetweenRanks) {
  const std::vector<double> samples = {5, 1, 4, 2, 3};  // order does not matter
  EXPECT_DOUBLE_EQ(Percentile(samples, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(samples, 50), 3);
  EXPECT_DOUBLE_EQ(Percentile(samples, 90), 4.6);
  EXPECT_DOUBLE_EQ(Percentile(samples, 99), 4.96);
  EXPECT_DOUBLE_EQ(Percentile(samples, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
}

TEST(AbStatsTest, ArgmaxAndHotExperts) {
  const std::vector<float> values = {0.1f, 0.9f, 0.9f, -1.0f};
  EXPECT_EQ(Argmax(values.data(), 4), 1);
  EXPECT_THAT(HotExperts({3, 9, 1, 9, 0}, 2), ElementsAre(1, 3));
  EXPECT_THAT(HotExperts({3}, 2), ElementsAre(0));
}

}  // namespace
}  // namespace sy::ab
