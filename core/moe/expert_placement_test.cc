#include "core/moe/expert_placement.h"

#include <gtest/gtest.h>

#include <map>

namespace sy {
namespace {

TEST(HomeRankTest, ShardsContiguouslyWithTheRemainderFirst) {
  // 10 experts over 4 ranks: 3, 3, 2, 2.
  const std::vector<int32_t> expected = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3};
  for (int32_t e = 0; e < 10; ++e) EXPECT_EQ(HomeRank(e, 10, 4), expected[e]) << e;
  EXPECT_EQ(HomeRank(2, 3, 4), 2);  // fewer experts than ranks
}

TEST(ExpertPlacementTest, InitialShardsThenDealsReplicasRoundRobin) {
  // 1 layer, 6 experts, 4 ranks of 2 slots: homes 2, 2, 1, 1; rank 2 and 3 get one replica
  // each, of expert 0 then expert 1.
  auto p = ExpertPlacement::Initial({1, 6, 4, 1, 2});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->placement().slots, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 5, 1}));
  EXPECT_EQ(p->rank_of_slot(5), 2);
  const auto zero = p->replicas(0, 0);
  EXPECT_EQ(std::vector<int32_t>(zero.begin(), zero.end()), (std::vector<int32_t>{0, 5}));
}

TEST(ExpertPlacementTest, InitialReplicatesTheBusiestExpertsWhenALoadIsKnown) {
  auto p = ExpertPlacement::Initial({2, 4, 2, 1, 3}, {1, 1, 1, 9, 8, 1, 1, 1});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->placement().slots, (std::vector<int32_t>{0, 1, 3, 2, 3, 3, 0, 1, 0, 2, 3, 0}));
}

TEST(ExpertPlacementTest, InitialNeedsRoomForTheHomeExperts) {
  EXPECT_FALSE(ExpertPlacement::Initial({1, 9, 4, 1, 2}).ok());  // 3 homes on rank 0
  EXPECT_FALSE(ExpertPlacement::Initial({1, 4, 2, 1, 2}, {1, 2}).ok());
}

TEST(ExpertPlacementTest, CreateRefusesAnInvalidPlacement) {
  auto p = ExpertPlacement::Create({{1, 3, 2, 1, 2}, {0, 0, 1, 1}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "the expert placement left expert 2 of layer 0 without a slot");
}

// 4 ranks of 1 slot: expert 0 on ranks 0 and 2, expert 1 on rank 1, expert 2 on rank 3.
TEST(ExpertPlacementTest, AssignsTheLocalReplicaElseTakesTurns) {
  const ExpertPlacement p = *ExpertPlacement::Create({{1, 3, 4, 1, 1}, {0, 1, 0, 2}});
  const std::vector<int32_t> ids = {0, 1, 0, -1, 0, 2};
  std::vector<int32_t> slots(ids.size());
  p.AssignReplicas(0, ids, /*token_rank=*/2, slots);
  EXPECT_EQ(slots, (std::vector<int32_t>{2, 1, 2, -1, 2, 3}));
  p.AssignReplicas(0, ids, /*token_rank=*/0, slots);
  EXPECT_EQ(slots, (std::vector<int32_t>{0, 1, 0, -1, 0, 3}));
  p.AssignReplicas(0, ids, /*token_rank=*/3, slots);  // no local copy of 0: turns from 3 % 2
  EXPECT_EQ(slots, (std::vector<int32_t>{2, 1, 0, -1, 2, 3}));
}

// Tokens from a rank without a replica spread evenly over the replicas.
TEST(ExpertPlacementTest, SpreadsRemoteTokensEvenly) {
  const ExpertPlacement p = *ExpertPlacement::Create({{1, 2, 4, 1, 1}, {0, 0, 0, 1}});
  const std::vector<int32_t> ids(300, 0);
  std::vector<int32_t> slots(ids.size());
  p.AssignReplicas(0, ids, 3, slots);
  std::map<int32_t, int> count;
  for (int32_t s : slots) ++count[s];
  EXPECT_EQ(count, (std::map<int32_t, int>{{0, 100}, {1, 100}, {2, 100}}));
}

TEST(ExpertPlacementTest, MeasuresImbalanceBeforeAndAfter) {
  // Logical: ranks hold {0, 1} = 60 and {2, 3} = 20: max/mean 60/40. The placement has
  // two replicas of experts 0 and 3.
  const ExpertPlacement p = *ExpertPlacement::Create({{1, 4, 2, 1, 3}, {0, 1, 3, 0, 2, 3}});
  const RankImbalance r = p.Imbalance(0, {50, 10, 10, 10});
  EXPECT_DOUBLE_EQ(r.logical, 1.5);
  // Rank 0: 25 + 10 + 5 = 40; rank 1: 25 + 10 + 5 = 40.
  EXPECT_DOUBLE_EQ(r.balanced, 1.0);
  const RankImbalance idle = p.Imbalance(0, {0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(idle.logical, 1.0);
  EXPECT_DOUBLE_EQ(idle.balanced, 1.0);
}

}  // namespace
}  // namespace sy
