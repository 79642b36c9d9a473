// router.hash, loaded from its .so. The expected expert lists were worked out independently
// (in Python, from the formula in README.md); the k = 4 of 4 case needs the repeat skipping.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/tensor/tensor_random.h"
#include "tests/support/router_test_fixture.h"

namespace sy {
namespace {

using router_test::Ids;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class HashTest : public router_test::RouterPluginTest {
 protected:
  HashTest() : RouterPluginTest("sy_router_hash", "router.hash") {}
};

Tensor TokenIds(const std::vector<int32_t>& values) {
  Tensor ids = *Tensor::Empty({static_cast<int64_t>(values.size())}, DType::kI32);
  std::copy(values.begin(), values.end(), ids.data<int32_t>());
  return ids;
}

Tensor Logits(int64_t tokens, int64_t experts, uint64_t seed = 1) {
  return *RandomNormal({tokens, experts}, seed);
}

TEST_F(HashTest, MatchesTheDocumentedHash) {
  RouterOutput out = Route({{"k", {int64_t{3}}}, {"seed", {int64_t{7}}}},
                           {Logits(4, 16), TokenIds({0, 1, 12345, -1})});
  EXPECT_THAT(Ids(out), ElementsAre(8, 0, 4, 12, 3, 5, 6, 12, 8, 14, 0, 3));
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(out.expert_weights.data<float>()[i], 1.0f / 3);
}

TEST_F(HashTest, DefaultIsOneExpertPerToken) {
  RouterOutput out = Route({}, {Logits(4, 8), TokenIds({0, 1, 12345, -1})});
  EXPECT_THAT(Ids(out), ElementsAre(1, 0, 5, 1));
  EXPECT_FLOAT_EQ(out.expert_weights.data<float>()[0], 1.0f);
}

TEST_F(HashTest, SkipsRepeatsUntilEveryExpertIsUsed) {
  RouterOutput out = Route({{"k", {int64_t{4}}}}, {Logits(4, 4), TokenIds({0, 1, 12345, -1})});
  EXPECT_THAT(Ids(out), ElementsAre(1, 3, 0, 2, 0, 3, 1, 2, 1, 3, 0, 2, 1, 0, 2, 3));
  EXPECT_FLOAT_EQ(out.expert_weights.data<float>()[15], 0.25f);
}

TEST_F(HashTest, IgnoresLogitsAndPosition) {
  RouterOutput a = Route({{"k", {int64_t{2}}}}, {Logits(3, 8, 1), TokenIds({5, 9, 5})});
  RouterOutput b = Route({{"k", {int64_t{2}}}}, {Logits(1, 8, 2), TokenIds({5})});
  EXPECT_EQ(Ids(a)[0], Ids(b)[0]);
  EXPECT_EQ(Ids(a)[1], Ids(b)[1]);
  EXPECT_EQ(Ids(a)[4], Ids(b)[0]);
  EXPECT_EQ(Ids(a)[5], Ids(b)[1]);
}

TEST_F(HashTest, SeedChangesTheAssignment) {
  std::vector<int32_t> vocabulary(64);
  std::iota(vocabulary.begin(), vocabulary.end(), 0);
  RouterOutput a = Route({}, {Logits(64, 8), TokenIds(vocabulary)});
  RouterOutput b = Route({{"seed", {int64_t{1}}}}, {Logits(64, 8), TokenIds(vocabulary)});
  EXPECT_NE(Ids(a), Ids(b));
}

TEST_F(HashTest, SpreadsAVocabularyEvenly) {
  const int tokens = 8000, experts = 8, k = 2;
  std::vector<int32_t> vocabulary(tokens);
  std::iota(vocabulary.begin(), vocabulary.end(), 0);
  RouterOutput out = Route({{"k", {int64_t{k}}}}, {Logits(tokens, experts), TokenIds(vocabulary)});
  std::vector<int> counts(experts, 0);
  for (int32_t id : Ids(out)) ++counts[id];
  // Each expert expects 2000 slots with a standard deviation near 40.
  for (int e = 0; e < experts; ++e) EXPECT_NEAR(counts[e], 2000, 250) << "expert " << e;
}

TEST_F(HashTest, NeedsTokenIds) {
  auto out = TryRoute({}, {Logits(2, 8)});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("router.hash needs token_ids"));
}

TEST_F(HashTest, RefusesNonFiniteLogitsEvenThoughItIgnoresThem) {
  Tensor logits = Logits(2, 8);
  logits.data<float>()[3] = INFINITY;
  auto out = TryRoute({}, {logits, TokenIds({1, 2})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("logits: element [0, 3] is infinite"));
}

}  // namespace
}  // namespace sy
