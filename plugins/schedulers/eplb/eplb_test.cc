// scheduler.eplb, loaded from its .so: the interval, the window, the hysteresis, the policies.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/plugin_host/placement.h"
#include "switchyard/expert_placement.hpp"
#include "tests/support/plugin_test_fixture.h"

namespace sy {
namespace {

class EplbTest : public plugin_test::PluginLibraryTest<PlacementScheduler> {
 protected:
  EplbTest() : PluginLibraryTest("sy_scheduler_eplb", "scheduler.eplb") {}
};

// One layer, 4 experts, 2 ranks of 3 slots: experts 0-1 on rank 0, 2-3 on rank 1, and one
// redundant slot per rank holding a copy of expert 1 and of expert 3.
Placement Contiguous() { return {{1, 4, 2, 1, 3}, {0, 1, 1, 2, 3, 3}}; }

int Replicas(const Placement& p, int32_t expert) {
  return static_cast<int>(std::count(p.slots.begin(), p.slots.end(), expert));
}

TEST_F(EplbTest, WaitsForTheIntervalThenReplicatesTheBusyExpert) {
  auto eplb = *Create({{"interval_steps", ConfigValue{int64_t{3}}}});
  const std::vector<double> load = {90, 5, 3, 2};
  const Placement current = Contiguous();
  for (uint64_t step = 0; step < 2; ++step) {
    auto kept = eplb.Observe(current, load, step);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_FALSE(kept->has_value()) << "step " << step;
  }
  auto moved = eplb.Observe(current, load, 2);
  ASSERT_TRUE(moved.ok()) << moved.status();
  ASSERT_TRUE(moved->has_value());
  EXPECT_EQ(Replicas(**moved, 0), 3);  // 90 / 3 = 30 per replica beats any other use
  EXPECT_LT(eplb::RankImbalance(load, (*moved)->slots, 2),
            eplb::RankImbalance(load, current.slots, 2));
}

// Expert 2 takes 90% of the load and gets 3 replicas: packs {2, 2, 1} and {2, 3, 0}. The
// second goes to rank 1, which holds 2 and 3 already in slots 3 and 4; rank 0 keeps its copy of
// expert 1 in slot 1. Three slots are re-filled, not the six a fresh layout would touch.
TEST_F(EplbTest, AMoveKeepsExpertsInTheSlotsThatHoldThem) {
  auto eplb = *Create({{"interval_steps", ConfigValue{int64_t{1}}}});
  const std::vector<double> load = {3, 2, 90, 5};
  auto moved = eplb.Observe(Contiguous(), load, 0);
  ASSERT_TRUE(moved.ok() && moved->has_value());
  EXPECT_EQ((*moved)->slots, (std::vector<int32_t>{2, 1, 2, 2, 3, 0}));
  EXPECT_EQ(eplb::SlotsToRefill(Contiguous().slots, (*moved)->slots), 3);
}

TEST_F(EplbTest, KeepsAPlacementThatIsAlreadyBalanced) {
  auto eplb = *Create({{"interval_steps", ConfigValue{int64_t{1}}}});
  const std::vector<double> load = {90, 5, 3, 2};
  auto moved = eplb.Observe(Contiguous(), load, 0);
  ASSERT_TRUE(moved.ok() && moved->has_value());
  auto again = eplb.Observe(**moved, load, 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
}

// A small gain is not worth moving weights for.
TEST_F(EplbTest, IgnoresGainsBelowTheThreshold) {
  const std::vector<double> load = {12, 10, 10, 10};
  const Placement current = {{1, 4, 2, 1, 2}, {0, 1, 2, 3}};  // rank loads 22 and 20
  const double best =
      eplb::RankImbalance(load, eplb::RebalanceGlobal(load, 4, 2), 2);  // 12+10 vs 10+10: no better
  ASSERT_GE(best, 22.0 / 21.0 - 1e-9);
  auto eplb = *Create(
      {{"interval_steps", ConfigValue{int64_t{1}}}, {"min_imbalance_gain", ConfigValue{0.5}}});
  auto kept = eplb.Observe(current, load, 0);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->has_value());
}

// With a window of 2 steps, the load of steps 0-1 is forgotten by step 3.
TEST_F(EplbTest, LooksOnlyAtTheWindow) {
  auto eplb = *Create(
      {{"interval_steps", ConfigValue{int64_t{4}}}, {"window_steps", ConfigValue{int64_t{2}}}});
  const Placement current = Contiguous();
  for (uint64_t step = 0; step < 2; ++step)
    ASSERT_TRUE(eplb.Observe(current, {100, 1, 1, 1}, step).ok());
  ASSERT_TRUE(eplb.Observe(current, {1, 1, 100, 1}, 2).ok());
  auto moved = eplb.Observe(current, {1, 1, 100, 1}, 3);
  ASSERT_TRUE(moved.ok() && moved->has_value());
  EXPECT_EQ(Replicas(**moved, 2), 3);
  EXPECT_EQ(Replicas(**moved, 0), 1);
}

TEST_F(EplbTest, HierarchicalNeedsGroupsThatFitTheNodes) {
  auto eplb = *Create({{"interval_steps", ConfigValue{int64_t{1}}},
                       {"policy", ConfigValue{std::string("hierarchical")}},
                       {"num_groups", ConfigValue{int64_t{3}}}});
  auto failed = eplb.Observe(Contiguous(), {4, 3, 2, 1}, 0);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("scheduler.eplb"), std::string::npos);
  EXPECT_NE(failed.status().message().find("groups"), std::string::npos);
}

// 8 experts in 4 groups on 2 nodes of 2 ranks: every expert stays on the node its group went to.
TEST_F(EplbTest, HierarchicalKeepsGroupsOnOneNode) {
  auto eplb = *Create({{"interval_steps", ConfigValue{int64_t{1}}},
                       {"policy", ConfigValue{std::string("hierarchical")}},
                       {"num_groups", ConfigValue{int64_t{4}}}});
  Placement current = {{1, 8, 4, 2, 3}, {0, 1, 0, 2, 3, 2, 4, 5, 4, 6, 7, 6}};
  auto moved = eplb.Observe(current, {50, 40, 3, 3, 2, 2, 30, 1}, 0);
  ASSERT_TRUE(moved.ok() && moved->has_value()) << moved.status();
  for (int32_t group = 0; group < 4; ++group) {
    std::vector<int32_t> nodes;
    for (int32_t s = 0; s < 12; ++s) {
      if ((*moved)->slots[s] / 2 == group) nodes.push_back(s / 6);
    }
    EXPECT_TRUE(std::all_of(nodes.begin(), nodes.end(), [&](int n) { return n == nodes[0]; }))
        << "group " << group;
  }
}

}  // namespace
}  // namespace sy
