// ExpertCachePolicy: free slots first, then the coldest expert by decayed load (least recently
// used among equals), never a pinned slot.
#include "expert_cache_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace sy::plugins {
namespace {

TEST(ExpertCachePolicyTest, FillsFreeSlotsThenEvictsTheColdest) {
  ExpertCachePolicy policy(2, 4, /*half_life=*/1.0);
  const std::vector<bool> none(2, false);
  EXPECT_EQ(policy.Admit(0, none).slot, 0);
  EXPECT_EQ(policy.Admit(1, none).slot, 1);
  policy.Observe(std::vector<int64_t>{5, 1, 0, 0});  // expert 0 hot, 1 cold
  const auto a = policy.Admit(2, none);
  EXPECT_EQ(a.evicted, 1);
  EXPECT_EQ(a.slot, 1);
  EXPECT_EQ(policy.SlotOf(1), -1);
  EXPECT_EQ(policy.SlotOf(2), 1);
  EXPECT_EQ(policy.ExpertIn(0), 0);
}

TEST(ExpertCachePolicyTest, LoadDecaysSoAFormerlyHotExpertLeaves) {
  ExpertCachePolicy policy(2, 4, /*half_life=*/1.0);
  const std::vector<bool> none(2, false);
  policy.Admit(0, none);
  policy.Admit(1, none);
  policy.Observe(std::vector<int64_t>{8, 0, 0, 0});
  for (int step = 0; step < 6; ++step) policy.Observe(std::vector<int64_t>{0, 1, 0, 0});
  // 8 halved six times is 0.125; expert 1's steady single token sums to about 2.
  EXPECT_LT(policy.load(0), policy.load(1));
  EXPECT_EQ(policy.Admit(3, none).evicted, 0);
}

TEST(ExpertCachePolicyTest, TiesGoToTheLeastRecentlyUsedAndPinnedSlotsStay) {
  ExpertCachePolicy policy(2, 4);
  const std::vector<bool> none(2, false);
  policy.Admit(0, none);
  policy.Admit(1, none);
  policy.Observe(std::vector<int64_t>{1, 0, 0, 0});
  policy.Observe(std::vector<int64_t>{0, 0, 0, 0});
  // Equal loads would need equal histories; with expert 1 never used, it is colder anyway.
  EXPECT_EQ(policy.Admit(2, {false, true}).evicted, 0);  // slot 1 pinned: expert 0 goes
  EXPECT_EQ(policy.Admit(3, {true, true}).slot, -1);     // everything pinned: no slot
}

}  // namespace
}  // namespace sy::plugins
