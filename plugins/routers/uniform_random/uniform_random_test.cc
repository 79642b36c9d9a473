// router.uniform_random, loaded from its .so. The expected draws were worked out independently
// (in Python, from the formula in README.md); weights are checked by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/tensor/tensor_convert.h"
#include "core/tensor/tensor_random.h"
#include "tests/support/router_test_fixture.h"

namespace sy {
namespace {

using router_test::Ids;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class UniformRandomTest : public router_test::RouterPluginTest {
 protected:
  UniformRandomTest() : RouterPluginTest("sy_router_uniform_random", "router.uniform_random") {}
};

// Rows 0 and 2 are equal; every value is exact in bf16 too.
Tensor ThreeRows() {
  return *Tensor::FromF32({3, 8}, {0,    1,  2, 3, 4, 5, 6, 7,  //
                                   0.5f, -1, 0, 0, 0, 0, 0, 2,  //
                                   0,    1,  2, 3, 4, 5, 6, 7});
}

TEST_F(UniformRandomTest, MatchesTheDocumentedDraw) {
  // The equal rows 0 and 2 draw differently: the position is part of the key.
  RouterOutput out = Route({}, {ThreeRows()});
  EXPECT_THAT(Ids(out), ElementsAre(3, 7, 6, 7, 2, 0));
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(out.expert_weights.data<float>()[i], 0.5f);
  RouterOutput seeded = Route({{"seed", {int64_t{42}}}}, {ThreeRows()});
  EXPECT_THAT(Ids(seeded), ElementsAre(6, 4, 5, 7, 7, 5));
}

TEST_F(UniformRandomTest, Bf16LogitsDrawAsTheirF32Values) {
  RouterOutput out = Route({}, {*ConvertDType(ThreeRows(), DType::kBF16)});
  EXPECT_THAT(Ids(out), ElementsAre(3, 7, 6, 7, 2, 0));
}

TEST_F(UniformRandomTest, TheSameBatchRoutesTheSameWay) {
  Tensor logits = *RandomNormal({33, 16}, 5);
  const std::vector<int32_t> a = Ids(Route({{"k", {int64_t{4}}}}, {logits}));
  EXPECT_EQ(Ids(Route({{"k", {int64_t{4}}}}, {logits})), a);
  Tensor changed = *logits.Clone();
  changed.data<float>()[0] += 1.0f;  // token 0 only: it draws anew, the others do not
  const std::vector<int32_t> c = Ids(Route({{"k", {int64_t{4}}}}, {changed}));
  EXPECT_NE(std::vector<int32_t>(a.begin(), a.begin() + 4),
            std::vector<int32_t>(c.begin(), c.begin() + 4));
  EXPECT_EQ(std::vector<int32_t>(a.begin() + 4, a.end()),
            std::vector<int32_t>(c.begin() + 4, c.end()));
}

TEST_F(UniformRandomTest, SoftmaxWeightsAreTheChosenProbabilitiesRenormalised) {
  // p = (1, 2, 3, 4) / 10, so expert e weighs (e + 1) / (sum over the chosen of (id + 1)).
  Tensor logits = *Tensor::FromF32({1, 4}, {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)});
  for (int64_t k : {1, 2, 3, 4}) {
    RouterOutput out = Route({{"k", {k}}, {"weights", {std::string("softmax")}}}, {logits});
    const std::vector<int32_t> ids = Ids(out);
    double total = 0;
    for (int32_t id : ids) total += id + 1;
    for (int j = 0; j < k; ++j) {
      EXPECT_NEAR(out.expert_weights.data<float>()[j], (ids[j] + 1) / total, 1e-6) << "k = " << k;
    }
  }
}

TEST_F(UniformRandomTest, SpreadsLoadEvenly) {
  const int tokens = 8000, experts = 8;
  RouterOutput out = Route({}, {*RandomNormal({tokens, experts}, 11)});
  std::vector<int> counts(experts, 0);
  for (int32_t id : Ids(out)) ++counts[id];
  // Each expert expects 2000 of the 16000 slots, with a standard deviation near 40.
  for (int e = 0; e < experts; ++e) EXPECT_NEAR(counts[e], 2000, 250) << "expert " << e;
}

TEST_F(UniformRandomTest, KOfKUsesEveryExpertOnce) {
  const std::vector<int32_t> ids = Ids(Route({{"k", {int64_t{8}}}}, {ThreeRows()}));
  for (int t = 0; t < 3; ++t) {
    std::vector<int32_t> row(ids.begin() + 8 * t, ids.begin() + 8 * (t + 1));
    std::sort(row.begin(), row.end());
    EXPECT_THAT(row, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  }
}

TEST_F(UniformRandomTest, RefusesNonFiniteLogits) {
  Tensor logits = ThreeRows();
  logits.data<float>()[9] = NAN;
  auto out = TryRoute({}, {logits});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("logits: element [1, 1] is NaN"));
}

}  // namespace
}  // namespace sy
