// router.expert_choice, loaded from its .so, against values worked out by hand and against an
// independent double-precision reference. (The conformance suite's references route one token
// at a time; expert choice needs the whole batch, so its reference lives here.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>
#include <vector>

#include "core/tensor/tensor_random.h"
#include "tests/support/router_test_fixture.h"

namespace sy {
namespace {

using router_test::Ids;
using router_test::Weights;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ExpertChoiceTest : public router_test::RouterPluginTest {
 protected:
  ExpertChoiceTest() : RouterPluginTest("sy_router_expert_choice", "router.expert_choice") {}
};

int DroppedSlots(const RouterOutput& out) {
  const auto ids = Ids(out);
  return static_cast<int>(std::count(ids.begin(), ids.end(), -1));
}

// Logits whose softmax is `probabilities` (each row sums to 1).
Tensor LogOf(int64_t tokens, int64_t experts, const std::vector<float>& probabilities) {
  std::vector<float> logits;
  for (float p : probabilities) logits.push_back(std::log(p));
  return *Tensor::FromF32({tokens, experts}, logits);
}

TEST_F(ExpertChoiceTest, ExpertsTakeTheirBestTokens) {
  // k = 2, capacity ceil(4 * 2 / 4) = 2. Columns pick:
  //   expert 0: tokens 1 (.5), 0 (.4)    expert 1: tokens 0 (.3), 3 (.26)
  //   expert 2: tokens 3 (.26), 0 (.2)   expert 3: tokens 2 (.7), 3 (.26)
  // Token 0, taken three times, keeps experts 0 and 1; tokens 1 and 2, taken once, drop a slot;
  // token 3's three equal scores keep the lower ids 1 and 2.
  Tensor logits = LogOf(4, 4,
                        {0.4f, 0.3f, 0.2f, 0.1f,    //
                         0.5f, 0.1f, 0.15f, 0.25f,  //
                         0.1f, 0.05f, 0.15f, 0.7f,  //
                         0.22f, 0.26f, 0.26f, 0.26f});
  RouterOutput out = Route({}, {logits});
  EXPECT_THAT(Ids(out), ElementsAre(0, 1, 0, -1, 3, -1, 1, 2));
  const std::vector<float> expected = {0.4f, 0.3f, 0.5f, 0.0f, 0.7f, 0.0f, 0.26f, 0.26f};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(Weights(out)[i], expected[i], 1e-6) << "slot " << i;
}

TEST_F(ExpertChoiceTest, OneSlotGivesEachExpertOneToken) {
  // k = 1, capacity 1: token 0's favourite (expert 0) prefers token 1, so token 0 gets expert 1.
  Tensor logits = LogOf(4, 4,
                        {0.4f, 0.3f, 0.2f, 0.1f,    //
                         0.5f, 0.1f, 0.15f, 0.25f,  //
                         0.1f, 0.05f, 0.15f, 0.7f,  //
                         0.22f, 0.26f, 0.26f, 0.26f});
  RouterOutput out = Route({{"k", {int64_t{1}}}}, {logits});
  EXPECT_THAT(Ids(out), ElementsAre(1, 0, 3, 2));
}

TEST_F(ExpertChoiceTest, CapacityRoundsUpTheDecimalFactor) {
  // k = experts, so every pick lands: filled slots = experts * capacity.
  Tensor logits = *RandomNormal({10, 4}, 3);
  ConfigTable config = {{"k", {int64_t{4}}}};
  // 0.3 * 10 * 4 / 4 = 3 exactly, though 0.3f is 0.300000012: 3 tokens per expert.
  config.push_back({"capacityFactor", {0.3}});
  EXPECT_EQ(40 - DroppedSlots(Route(config, {logits})), 12);
  config.back().second = {0.25};  // 2.5 rounds up to 3
  EXPECT_EQ(40 - DroppedSlots(Route(config, {logits})), 12);
  config.back().second = {2.0};  // 20 tokens per expert is more than the batch: all 10
  EXPECT_EQ(DroppedSlots(Route(config, {logits})), 0);
}

TEST_F(ExpertChoiceTest, HandlesAnEmptyBatch) {
  RouterOutput out = Route({}, {*Tensor::Empty({0, 8}, DType::kF32)});
  EXPECT_EQ(out.expert_ids.numel(), 0);
}

TEST_F(ExpertChoiceTest, RefusesNonFiniteLogits) {
  auto out = TryRoute({}, {*Tensor::FromF32({1, 4}, {0, 0, -INFINITY, 0})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("logits: element [0, 2] is infinite"));
}

// The rule of Zhou et al. in double precision, written independently of the plugin.
struct Routed {
  std::vector<int> ids;
  std::vector<double> weights;
};
Routed ExpertChoiceReference(const Tensor& logits, int k, double capacity_factor) {
  const int tokens = static_cast<int>(logits.dim(0)), experts = static_cast<int>(logits.dim(1));
  std::vector<double> p(tokens * experts);
  for (int t = 0; t < tokens; ++t) {
    double max = -INFINITY, sum = 0;
    for (int e = 0; e < experts; ++e) max = std::max(max, logits.Get(t * experts + e));
    for (int e = 0; e < experts; ++e)
      sum += p[t * experts + e] = std::exp(logits.Get(t * experts + e) - max);
    for (int e = 0; e < experts; ++e) p[t * experts + e] /= sum;
  }
  const int capacity =
      std::min(tokens, static_cast<int>(std::ceil(capacity_factor * tokens * k / experts)));
  std::vector<std::vector<std::pair<double, int>>> chosen(tokens);  // (-score, expert)
  for (int e = 0; e < experts; ++e) {
    std::vector<int> order(tokens);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return p[a * experts + e] > p[b * experts + e]; });
    for (int i = 0; i < capacity; ++i) chosen[order[i]].push_back({-p[order[i] * experts + e], e});
  }
  Routed r;
  for (auto& c : chosen) {
    std::sort(c.begin(), c.end());
    for (int j = 0; j < k; ++j) {
      r.ids.push_back(j < static_cast<int>(c.size()) ? c[j].second : -1);
      r.weights.push_back(j < static_cast<int>(c.size()) ? -c[j].first : 0.0);
    }
  }
  return r;
}

TEST_F(ExpertChoiceTest, MatchesTheReferenceRule) {
  // Factors exact in binary, so that the reference's ceil() needs no decimal care.
  const std::vector<std::tuple<int, int, int, double>> cases = {
      {50, 8, 2, 1.0}, {64, 16, 4, 1.25}, {7, 8, 1, 2.0}, {33, 8, 3, 0.5}};
  for (const auto& [tokens, experts, k, factor] : cases) {
    Tensor logits = *RandomNormal({tokens, experts}, 77 + tokens, 0.0f, 3.0f);
    RouterOutput out = Route({{"k", {int64_t{k}}}, {"capacityFactor", {factor}}}, {logits});
    const Routed want = ExpertChoiceReference(logits, k, factor);
    const std::vector<int32_t> ids = Ids(out);
    const std::vector<float> weights = Weights(out);
    ASSERT_EQ(ids.size(), want.ids.size());
    for (size_t i = 0; i < want.ids.size(); ++i) {
      EXPECT_EQ(ids[i], want.ids[i]) << tokens << " tokens, slot " << i;
      EXPECT_NEAR(weights[i], want.weights[i], 1e-6) << tokens << " tokens, slot " << i;
    }
  }
}

}  // namespace
}  // namespace sy
