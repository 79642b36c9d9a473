#include "core/planning/expert_placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy::planning {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ExpertPlacementTest, ContiguousRangesFirstRanksTakeTheRemainder) {
  auto p = PlaceExperts(10, 4, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->ranks.size(), 4u);
  EXPECT_EQ(ExpertRangeText(p->ranks[0].first_home, p->ranks[0].home_count), "0-2");
  EXPECT_EQ(ExpertRangeText(p->ranks[1].first_home, p->ranks[1].home_count), "3-5");
  EXPECT_EQ(ExpertRangeText(p->ranks[2].first_home, p->ranks[2].home_count), "6-7");
  EXPECT_EQ(ExpertRangeText(p->ranks[3].first_home, p->ranks[3].home_count), "8-9");
  EXPECT_EQ(p->MaxSlotsPerRank(), 3);
}

TEST(ExpertPlacementTest, MoreRanksThanExpertsLeavesSomeEmpty) {
  auto p = PlaceExperts(2, 4, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ranks[1].home_count, 1);
  EXPECT_EQ(p->ranks[3].home_count, 0);
  EXPECT_EQ(ExpertRangeText(p->ranks[3].first_home, p->ranks[3].home_count), "");
  EXPECT_EQ(p->MaxSlotsPerRank(), 1);
}

TEST(ExpertPlacementTest, ReplicasAreDealtRoundRobinToRanksWithoutThem) {
  // 256 experts over 8 ranks (32 each), 8 replicas: replica j goes to rank j and copies the next
  // expert in id order the rank does not hold: 32, 64, ..., 224, then rank 7 wraps to 0.
  auto p = PlaceExperts(256, 8, 8);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->ranks[0].replicas, ElementsAre(32));
  EXPECT_THAT(p->ranks[1].replicas, ElementsAre(64));
  EXPECT_THAT(p->ranks[6].replicas, ElementsAre(224));
  EXPECT_THAT(p->ranks[7].replicas, ElementsAre(0));
  EXPECT_EQ(p->MaxSlotsPerRank(), 33);
  // 8 experts, one per rank, 10 replicas: ranks 0 and 1 get two.
  auto q = PlaceExperts(8, 8, 10);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_THAT(q->ranks[0].replicas, ElementsAre(1, 2));
  EXPECT_THAT(q->ranks[1].replicas, ElementsAre(2, 3));
  EXPECT_THAT(q->ranks[7].replicas, ElementsAre(0));
  EXPECT_EQ(q->MaxSlotsPerRank(), 3);
}

TEST(ExpertPlacementTest, ImpossiblePlacementsAreErrors) {
  EXPECT_THAT(PlaceExperts(8, 0, 0).status().message(), HasSubstr("EP size must be at least 1"));
  EXPECT_THAT(PlaceExperts(8, 2, -1).status().message(),
              HasSubstr("redundant replicas must be at least 0"));
  // One rank already holds every expert: a replica has nowhere distinct to go.
  EXPECT_THAT(PlaceExperts(8, 1, 1).status().message(),
              HasSubstr("each rank can hold each of the 8 experts once"));
}

}  // namespace
}  // namespace sy::planning
