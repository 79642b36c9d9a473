#include "core/moe/expert_load.h"

#include <gtest/gtest.h>

namespace sy {
namespace {

TEST(ExpertLoadTest, CountsAndImbalance) {
  RouterOutput r;
  r.expert_ids = *Tensor::Empty({3, 2}, DType::kI32);
  r.expert_weights = *Tensor::Zeros({3, 2}, DType::kF32);
  const int32_t ids[6] = {0, 1, 0, 2, 0, -1};
  for (int i = 0; i < 6; ++i) r.expert_ids.data<int32_t>()[i] = ids[i];
  ExpertLoad load = MeasureLoad(r, 4);
  EXPECT_EQ(load.tokens_per_expert, (std::vector<int64_t>{3, 1, 1, 0}));
  EXPECT_EQ(load.dropped, 1);
  // mean 1.25; max/mean 2.4; variance 11/4 - 1.5625 = 1.1875; Jain 25 / (4 * 11).
  EXPECT_DOUBLE_EQ(load.max_over_mean, 2.4);
  EXPECT_NEAR(load.coefficient_of_variation, std::sqrt(1.1875) / 1.25, 1e-12);
  EXPECT_DOUBLE_EQ(load.jain_index, 25.0 / 44.0);
}

TEST(ExpertLoadTest, AccumulatesStepsAndRecomputesImbalanceOverTheTotal) {
  ExpertLoad a{.tokens = 2, .top_k = 2, .tokens_per_expert = {4, 0}, .dropped = 0};
  ExpertLoad b{.tokens = 2, .top_k = 2, .tokens_per_expert = {0, 3}, .dropped = 1};
  ExpertLoad total;
  AccumulateLoad(a, total);
  EXPECT_DOUBLE_EQ(total.max_over_mean, 2.0);  // {4, 0}: max 4, mean 2
  AccumulateLoad(b, total);
  EXPECT_EQ(total.tokens, 4);
  EXPECT_EQ(total.tokens_per_expert, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(total.dropped, 1);
  EXPECT_DOUBLE_EQ(total.max_over_mean, 4.0 / 3.5);
  EXPECT_DOUBLE_EQ(total.jain_index, 49.0 / (2 * 25.0));
}

}  // namespace
}  // namespace sy
