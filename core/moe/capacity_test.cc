#include "core/moe/capacity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy {
namespace {

RouterOutput Routing(int64_t tokens, int64_t k, const std::vector<int32_t>& ids) {
  RouterOutput r;
  r.expert_ids = *Tensor::Empty({tokens, k}, DType::kI32);
  r.expert_weights = *Tensor::Empty({tokens, k}, DType::kF32);
  for (size_t i = 0; i < ids.size(); ++i) {
    r.expert_ids.data<int32_t>()[i] = ids[i];
    r.expert_weights.data<float>()[i] = 0.5f;
  }
  return r;
}

// 4 tokens, k = 2, 4 experts: capacity at factor 1 is ceil(8 / 4) = 2 slots per expert.
TEST(CapacityTest, DropsOverflowFirstChoicesFirst) {
  RouterOutput r = Routing(4, 2, {0, 1, 0, 2, 0, 1, 0, 3});
  Tensor logits = *Tensor::Zeros({4, 4}, DType::kF32);
  CapacityOutcome o = *ApplyCapacity({1.0, CapacityLimit::Overflow::kDrop}, logits, r);
  EXPECT_EQ(o.capacity, 2);
  EXPECT_EQ(o.dropped, 2);  // tokens 2 and 3 lose their first choice, expert 0
  const std::vector<int32_t> expected = {0, 1, 0, 2, -1, 1, -1, 3};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r.expert_ids.data<int32_t>()[i], expected[i]) << i;
  EXPECT_EQ(r.expert_weights.data<float>()[4], 0.0f);
}

TEST(CapacityTest, ReroutesToTheBestExpertWithRoom) {
  RouterOutput r = Routing(4, 2, {0, 1, 0, 2, 0, 1, 0, 3});
  // Token 2 prefers expert 3, then 2; token 3 prefers expert 2.
  Tensor logits = *Tensor::FromF32({4, 4}, {0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 5, 7, 9, 0, 6, 1});
  CapacityOutcome o = *ApplyCapacity({1.0, CapacityLimit::Overflow::kReroute}, logits, r);
  EXPECT_EQ(o.rerouted, 2);
  EXPECT_EQ(o.dropped, 0);
  EXPECT_EQ(r.expert_ids.data<int32_t>()[4], 3);  // token 2 -> expert 3 (logit 7)
  EXPECT_EQ(r.expert_ids.data<int32_t>()[6],
            2);  // token 3 -> expert 2 (logit 6; 3 is its other pick)
  EXPECT_EQ(r.expert_weights.data<float>()[4], 0.5f);
}

TEST(CapacityTest, RefusesANonPositiveFactor) {
  RouterOutput r = Routing(1, 1, {0});
  EXPECT_FALSE(
      ApplyCapacity({0.0, CapacityLimit::Overflow::kDrop}, *Tensor::Zeros({1, 2}, DType::kF32), r)
          .ok());
}

}  // namespace
}  // namespace sy
