// router.grouped_topk, loaded from its .so, against values worked out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor_convert.h"
#include "core/tensor/tensor_random.h"
#include "tests/support/router_test_fixture.h"

namespace sy {
namespace {

using router_test::Ids;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GroupedTopKTest : public router_test::RouterPluginTest {
 protected:
  GroupedTopKTest() : RouterPluginTest("sy_router_grouped_topk", "router.grouped_topk") {}
};

// Logits whose sigmoids are exactly `probabilities` (up to f32 rounding).
Tensor SigmoidInverse(const std::vector<float>& probabilities) {
  std::vector<float> logits;
  for (float p : probabilities) logits.push_back(std::log(p / (1.0f - p)));
  return *Tensor::FromF32({1, static_cast<int64_t>(logits.size())}, logits);
}

Tensor Bias(const std::vector<float>& values) {
  return *Tensor::FromF32({static_cast<int64_t>(values.size())}, values);
}

float Weight(const RouterOutput& out, int slot) { return out.expert_weights.data<float>()[slot]; }

// Eight experts in four groups of two: s = (.9 .1 | .6 .6 | .8 .7 | .2 .3).
// Group scores (top-2 sums): 1.0, 1.2, 1.5, 0.5.
Tensor FourGroups() { return SigmoidInverse({0.9f, 0.1f, 0.6f, 0.6f, 0.8f, 0.7f, 0.2f, 0.3f}); }
ConfigTable DeepSeekLike() {
  return {{"k", {int64_t{2}}}, {"nGroup", {int64_t{4}}}, {"topkGroup", {int64_t{2}}}};
}

TEST_F(GroupedTopKTest, KeepsTheBestGroupsEvenOverTheBestExpert) {
  // Groups 2 and 1 survive; expert 0 (0.9, the best) is in group 0 and is not eligible.
  RouterOutput out = Route(DeepSeekLike(), {FourGroups()});
  EXPECT_THAT(Ids(out), ElementsAre(4, 5));
  EXPECT_NEAR(Weight(out, 0), 0.8 / 1.5, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 0.7 / 1.5, 1e-6);
}

TEST_F(GroupedTopKTest, ScalesAfterRenormalising) {
  ConfigTable config = DeepSeekLike();
  config.push_back({"routedScalingFactor", {2.5}});
  RouterOutput out = Route(config, {FourGroups()});
  EXPECT_NEAR(Weight(out, 0), 2.5 * 0.8 / 1.5, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 2.5 * 0.7 / 1.5, 1e-6);
}

TEST_F(GroupedTopKTest, WithoutRenormalisationWeightsAreSigmoids) {
  ConfigTable config = DeepSeekLike();
  config.push_back({"renormalize", {false}});
  config.push_back({"routedScalingFactor", {2.0}});
  RouterOutput out = Route(config, {FourGroups()});
  EXPECT_NEAR(Weight(out, 0), 1.6, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 1.4, 1e-6);
}

TEST_F(GroupedTopKTest, BiasSteersSelectionButNotWeights) {
  // s' = (.9 .1 | .95 .6 | .3 .2 | .2 .3): groups 1.0, 1.55, 0.5, 0.5 keep groups 1 and 0; by s'
  // expert 2 (.95) comes before expert 0 (.9), but the weights use s = .6 and .9.
  Tensor bias = Bias({0, 0, 0.35f, 0, -0.5f, -0.5f, 0, 0});
  RouterOutput out = Route(DeepSeekLike(), {FourGroups(), std::nullopt, bias});
  EXPECT_THAT(Ids(out), ElementsAre(2, 0));
  EXPECT_NEAR(Weight(out, 0), 0.4, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 0.6, 1e-6);
}

// Four experts, two groups: s = (.9 .2 | .3 .3), bias -0.3 on expert 1, so s' = (.9 -.1 | .3 .3).
// Group 0 (0.8) beats group 1 (0.6). Filled with 0, the dropped experts 2 and 3 outrank the kept
// expert 1 (-0.1); filled with -inf they cannot.
RouterInputs NegativeBiasedScore() {
  return {SigmoidInverse({0.9f, 0.2f, 0.3f, 0.3f}), std::nullopt, Bias({0, -0.3f, 0, 0})};
}
ConfigTable TwoGroupsKeepOne() {
  return {{"k", {int64_t{2}}}, {"nGroup", {int64_t{2}}}, {"topkGroup", {int64_t{1}}}};
}

TEST_F(GroupedTopKTest, ZeroFillFollowsTransformers) {
  RouterOutput out = Route(TwoGroupsKeepOne(), NegativeBiasedScore());
  EXPECT_THAT(Ids(out), ElementsAre(0, 2));
  EXPECT_NEAR(Weight(out, 0), 0.9 / 1.2, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 0.3 / 1.2, 1e-6);
}

TEST_F(GroupedTopKTest, NegInfFillFollowsTheDeepSeekReference) {
  ConfigTable config = TwoGroupsKeepOne();
  config.push_back({"maskedGroupFill", {std::string("negInf")}});
  RouterOutput out = Route(config, NegativeBiasedScore());
  EXPECT_THAT(Ids(out), ElementsAre(0, 1));
  EXPECT_NEAR(Weight(out, 0), 0.9 / 1.1, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 0.2 / 1.1, 1e-6);
}

TEST_F(GroupedTopKTest, SoftmaxScoringRanksGroupsByTheirMaximum) {
  // p = (.44 .02 | .27 .27): by maximum group 0 wins (.44 > .27), though its top-2 sum (.46)
  // loses to group 1's (.54).
  Tensor logits =
      *Tensor::FromF32({1, 4}, {std::log(44.0f), std::log(2.0f), std::log(27.0f), std::log(27.0f)});
  ConfigTable config = TwoGroupsKeepOne();
  config.push_back({"scoring", {std::string("softmax")}});
  RouterOutput out = Route(config, {logits});
  EXPECT_THAT(Ids(out), ElementsAre(0, 1));
  EXPECT_NEAR(Weight(out, 0), 44.0 / 46.0, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 2.0 / 46.0, 1e-6);
}

TEST_F(GroupedTopKTest, DefaultsAreAPlainSigmoidTopTwo) {
  RouterOutput out = Route({}, {FourGroups()});
  EXPECT_THAT(Ids(out), ElementsAre(0, 4));
  EXPECT_NEAR(Weight(out, 0), 0.9 / 1.7, 1e-6);
  EXPECT_NEAR(Weight(out, 1), 0.8 / 1.7, 1e-6);
}

TEST_F(GroupedTopKTest, RoutesEveryTokenOfABf16Batch) {
  // Token 0 is FourGroups(); token 1 its mirror image (.3 .2 | .7 .8 | .6 .6 | .1 .9), which
  // keeps groups 1 and 2 and picks experts 3 then 2.
  Tensor one = FourGroups();
  std::vector<float> values(16);
  for (int e = 0; e < 8; ++e) values[e] = values[15 - e] = static_cast<float>(one.Get(e));
  Tensor logits = *ConvertDType(*Tensor::FromF32({2, 8}, values), DType::kBF16);
  RouterOutput out = Route(DeepSeekLike(), {logits});
  EXPECT_THAT(Ids(out), ElementsAre(4, 5, 3, 2));
}

// DeepSeek-V3's rule in double precision, written from REFERENCES.md independently of the
// plugin: selection by s' = sigmoid + bias, groups by their top-2 sum, weights from s.
struct Expected {
  std::vector<int> ids;
  std::vector<double> weights;
};
Expected DeepSeekV3Reference(const std::vector<double>& logits, const std::vector<double>& bias,
                             int k, int n_group, int topk_group, double scale, double fill) {
  const int experts = static_cast<int>(logits.size()), size = experts / n_group;
  std::vector<double> s(experts), choice(experts);
  for (int e = 0; e < experts; ++e) {
    s[e] = 1 / (1 + std::exp(-logits[e]));
    choice[e] = s[e] + bias[e];
  }
  std::vector<std::pair<double, int>> groups;  // (-score, group): sorts best first
  for (int g = 0; g < n_group; ++g) {
    std::vector<double> members(choice.begin() + g * size, choice.begin() + (g + 1) * size);
    std::sort(members.rbegin(), members.rend());
    groups.push_back({-(members[0] + members[1]), g});
  }
  std::sort(groups.begin(), groups.end());
  for (int i = topk_group; i < n_group; ++i) {
    std::fill_n(choice.begin() + groups[i].second * size, size, fill);
  }
  std::vector<std::pair<double, int>> ranked;
  for (int e = 0; e < experts; ++e) ranked.push_back({-choice[e], e});
  std::sort(ranked.begin(), ranked.end());
  Expected out;
  double sum = 0;
  for (int j = 0; j < k; ++j) sum += s[ranked[j].second];
  for (int j = 0; j < k; ++j) {
    out.ids.push_back(ranked[j].second);
    out.weights.push_back(s[ranked[j].second] / (sum + 1e-20) * scale);
  }
  return out;
}

TEST_F(GroupedTopKTest, MatchesDeepSeekV3AtFullSize) {
  // 256 experts in 8 groups, 4 kept, top-8, x 2.5; a bias that makes most s' negative, where
  // the two fills disagree.
  const int tokens = 64, experts = 256, k = 8;
  Tensor logits = *RandomNormal({tokens, experts}, 21, 0.0f, 2.0f);
  Tensor bias = *RandomNormal({experts}, 22, -1.2f, 0.3f);
  std::vector<double> bias_row(experts);
  for (int e = 0; e < experts; ++e) bias_row[e] = bias.Get(e);
  std::vector<std::vector<int32_t>> ids_by_fill;
  for (const char* fill : {"zero", "negInf"}) {
    RouterOutput out = Route({{"k", {int64_t{k}}},
                              {"nGroup", {int64_t{8}}},
                              {"topkGroup", {int64_t{4}}},
                              {"routedScalingFactor", {2.5}},
                              {"maskedGroupFill", {std::string(fill)}}},
                             {logits, std::nullopt, bias});
    const std::vector<int32_t> ids = ids_by_fill.emplace_back(Ids(out));
    for (int t = 0; t < tokens; ++t) {
      std::vector<double> row(experts);
      for (int e = 0; e < experts; ++e) row[e] = logits.Get(t * experts + e);
      const double fill_value = std::string(fill) == "zero" ? 0.0 : -INFINITY;
      const Expected want = DeepSeekV3Reference(row, bias_row, k, 8, 4, 2.5, fill_value);
      for (int j = 0; j < k; ++j) {
        EXPECT_EQ(ids[t * k + j], want.ids[j]) << fill << " token " << t << " slot " << j;
        EXPECT_NEAR(Weight(out, t * k + j), want.weights[j], 1e-5) << fill << " token " << t;
      }
    }
  }
  EXPECT_NE(ids_by_fill[0], ids_by_fill[1]) << "the data should tell the two fills apart";
}

TEST_F(GroupedTopKTest, RefusesMoreKeptGroupsThanGroupsAtCreate) {
  auto router = Create({{"nGroup", {int64_t{4}}}, {"topkGroup", {int64_t{5}}}});
  ASSERT_FALSE(router.ok());
  EXPECT_THAT(router.status().message(), HasSubstr("topkGroup = 5 exceeds nGroup = 4"));
}

TEST_F(GroupedTopKTest, RefusesExpertsThatDoNotSplitIntoGroups) {
  auto out = TryRoute({{"nGroup", {int64_t{4}}}}, {*Tensor::FromF32({1, 6}, {1, 2, 3, 4, 5, 6})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("6 experts do not split into nGroup = 4"));
}

TEST_F(GroupedTopKTest, RefusesKBeyondTheKeptExperts) {
  auto out = TryRoute({{"k", {int64_t{3}}}, {"nGroup", {int64_t{4}}}, {"topkGroup", {int64_t{1}}}},
                      {FourGroups()});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("k = 3 exceeds the 2 experts"));
}

TEST_F(GroupedTopKTest, RefusesNonFiniteLogits) {
  auto out = TryRoute({}, {*Tensor::FromF32({1, 4}, {0, NAN, 0, 0})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("logits: element [0, 1] is NaN"));
}

TEST_F(GroupedTopKTest, RefusesABiasOfTheWrongShape) {
  auto out = TryRoute({}, {FourGroups(), std::nullopt, Bias({0, 0, 0})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("correction_bias"));
}

TEST_F(GroupedTopKTest, RefusesABiasWithSoftmaxScoring) {
  auto out = TryRoute({{"scoring", {std::string("softmax")}}},
                      {FourGroups(), std::nullopt, Bias(std::vector<float>(8, 0.0f))});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("scoring = softmax takes none"));
}

}  // namespace
}  // namespace sy
