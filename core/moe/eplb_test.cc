// The EPLB algorithms of the SDK (switchyard/expert_placement.hpp): hand-worked cases,
// DeepSeek's published example, invariants on random loads, and the gain on skewed loads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "switchyard/expert_placement.hpp"

namespace sy::eplb {
namespace {

// Weights 5, 1, 4, 2 into 2 packs of 2: 5 -> pack 0, 4 -> pack 1, 2 -> pack 1 (4 < 5; now
// full), 1 -> pack 0.
TEST(BalancedPackingTest, HeaviestFirstIntoTheLightestPackWithRoom) {
  const Packing p = BalancedPacking({5, 1, 4, 2}, 2);
  EXPECT_EQ(p.pack, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(p.index_in_pack, (std::vector<int32_t>{0, 1, 0, 1}));
}

TEST(BalancedPackingTest, OneItemPerPackKeepsTheOrder) {
  EXPECT_EQ(BalancedPacking({1, 9, 5}, 3).pack, (std::vector<int32_t>{0, 1, 2}));
}

TEST(BalancedPackingTest, RefusesUnevenPacks) {
  EXPECT_THROW(BalancedPacking({1, 2, 3}, 2), std::invalid_argument);
}

// 10, 4, 6 into 5 slots: 10/1 is highest -> expert 0 (now 5 per replica); then 6/1 -> expert 2.
TEST(ReplicateExpertsTest, EachSlotToTheHighestLoadPerReplica) {
  const Replication r = ReplicateExperts({10, 4, 6}, 5);
  EXPECT_EQ(r.physical_to_logical, (std::vector<int32_t>{0, 1, 2, 0, 2}));
  EXPECT_EQ(r.replicas, (std::vector<int32_t>{2, 1, 2}));
  EXPECT_THROW(ReplicateExperts({1, 2, 3}, 2), std::invalid_argument);
}

// The example of DeepSeek's EPLB README: 12 experts in 4 groups, 2 nodes, 8 GPUs, 16 slots.
// Layer 0 by hand: groups {0,1,2} = 262, {3,4,5} = 330, {6,7,8} = 116, {9,10,11} = 325.
// Onto 2 nodes: 330 -> node 0, 325 -> node 1, 262 -> node 1 (325 < 330), 116 -> node 0.
// Node 0 holds experts 3..8 (61 104 165 39 4 73) in 8 slots: replicas of 5 (165 -> 82.5 each)
// and 4 (104 -> 52); packed 2 per GPU: 82.5 -> g0, 82.5 -> g1, 73 -> g2, 61 -> g3, 52 -> g3,
// 52 -> g2, 39 -> g0, 4 -> g1: [5 6 | 5 7 | 8 4 | 3 4]. Node 1 likewise: [10 9 | 10 2 | 0 1 | 11
// 1].
TEST(RebalanceTest, MatchesDeepSeeksExample) {
  const std::vector<std::vector<double>> load = {
      {90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86},
      {20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27}};
  EXPECT_EQ(RebalanceHierarchical(load[0], 16, 4, 2, 8),
            (std::vector<int32_t>{5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1}));
  EXPECT_EQ(RebalanceHierarchical(load[1], 16, 4, 2, 8),
            (std::vector<int32_t>{7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}));
  // GPU loads of layer 0, from the packing above.
  EXPECT_EQ(RankLoads(load[0], RebalanceHierarchical(load[0], 16, 4, 2, 8), 8),
            (std::vector<double>{121.5, 86.5, 125, 113, 147.5, 131.5, 156, 152}));
}

TEST(RebalanceTest, AutoFallsBackToGlobalWhenGroupsDoNotFit) {
  EXPECT_EQ(AutoPolicy(12, 4, 2), Policy::kHierarchical);
  EXPECT_EQ(AutoPolicy(12, 3, 2), Policy::kGlobal);  // 3 groups on 2 nodes
  EXPECT_EQ(AutoPolicy(10, 4, 2), Policy::kGlobal);  // 4 groups do not split 10 experts
  EXPECT_EQ(AutoPolicy(10, 1, 1), Policy::kGlobal);  // one group on one node
  EXPECT_THROW(RebalanceHierarchical(std::vector<double>(10, 1.0), 16, 4, 2, 8),
               std::invalid_argument);
}

std::vector<double> ZipfLoad(int32_t experts, double skew, std::mt19937& rng) {
  std::vector<double> load(experts);
  for (int32_t e = 0; e < experts; ++e) load[e] = 1000.0 / std::pow(e + 1, skew);
  std::shuffle(load.begin(), load.end(), rng);
  return load;
}

struct Case {
  int32_t experts, groups, nodes, ranks, slots_per_rank;
};

// Every expert placed, each rank exactly its slots, and for the global policy the packing
// bound: no rank above the mean by more than the heaviest replica.
TEST(RebalanceTest, InvariantsOnRandomLoads) {
  std::mt19937 rng(7);
  const Case cases[] = {
      {8, 1, 1, 2, 4}, {64, 8, 2, 8, 9}, {256, 8, 4, 32, 9}, {60, 4, 2, 4, 16}, {128, 4, 1, 8, 16}};
  for (const Case& c : cases) {
    for (Policy policy : {Policy::kHierarchical, Policy::kGlobal}) {
      for (int trial = 0; trial < 20; ++trial) {
        std::vector<double> load = ZipfLoad(c.experts, 0.3 * trial / 4, rng);
        if (trial % 5 == 0) load[rng() % c.experts] = 0;  // an idle expert
        const int32_t slots = c.ranks * c.slots_per_rank;
        const std::vector<int32_t> placed =
            Rebalance(policy, load, slots, c.groups, c.nodes, c.ranks);
        ASSERT_EQ(placed.size(), static_cast<size_t>(slots));
        std::vector<int32_t> replicas(c.experts, 0);
        for (int32_t e : placed) {
          ASSERT_GE(e, 0);
          ASSERT_LT(e, c.experts);
          ++replicas[e];
        }
        double heaviest = 0, total = 0;
        for (int32_t e = 0; e < c.experts; ++e) {
          ASSERT_GE(replicas[e], 1) << "expert " << e;
          heaviest = std::max(heaviest, load[e] / replicas[e]);
          total += load[e];
        }
        if (policy == Policy::kGlobal) {
          for (double r : RankLoads(load, placed, c.ranks)) {
            EXPECT_LE(r, total / c.ranks + heaviest + 1e-9);
          }
        }
      }
    }
  }
}

// Zipf-skewed loads at DeepSeek-V3's shape (256 experts, 32 redundant, EP 32 on 4 nodes):
// contiguous sharding leaves the busiest rank far above the mean; either policy brings it close.
TEST(RebalanceTest, CutsTheImbalanceOfSkewedLoads) {
  std::mt19937 rng(3);
  const std::vector<double> load = ZipfLoad(256, 1.0, rng);
  std::vector<int32_t> logical(256);
  std::iota(logical.begin(), logical.end(), 0);
  const double before = RankImbalance(load, logical, 32);
  const double global = RankImbalance(load, RebalanceGlobal(load, 288, 32), 32);
  const double hierarchical = RankImbalance(load, RebalanceHierarchical(load, 288, 8, 4, 32), 32);
  EXPECT_GT(before, 3.0);
  EXPECT_LT(global, 1.3);
  EXPECT_LT(hierarchical, 1.6);
  EXPECT_LE(global, hierarchical + 1e-9);
}

// A placement that only swapped ranks and slots around re-fills nothing: 2 ranks of 3 slots,
// expert 1 replicated.
TEST(KeepInPlaceTest, ARelabelledPlacementMovesNothing) {
  const std::vector<int32_t> now = {0, 1, 2, 3, 1, 4};
  const std::vector<int32_t> next = {3, 4, 1, 1, 0, 2};
  EXPECT_EQ(SlotsToRefill(now, next), 6);
  EXPECT_EQ(KeepInPlace(now, next, 2, 1), now);
  EXPECT_EQ(KeepInPlace(now, now, 2, 1), now);
}

// Rank 0 trades expert 2 for 5: only that slot changes, and rank 1 keeps its slots.
TEST(KeepInPlaceTest, OnlyTheExpertsThatChangeRankMove) {
  const std::vector<int32_t> now = {0, 1, 2, 3, 4, 5};
  const std::vector<int32_t> next = {3, 4, 2, 5, 1, 0};  // packs {3,4,2} and {5,1,0}
  EXPECT_EQ(KeepInPlace(now, next, 2, 1), (std::vector<int32_t>{0, 1, 5, 3, 4, 2}));
}

// Packs never leave their node: 2 nodes of 2 ranks, one slot each; rank 2 of node 1 would share
// expert 0 with pack 0, but pack 0 belongs to node 0.
TEST(KeepInPlaceTest, PacksStayOnTheirNode) {
  const std::vector<int32_t> now = {1, 2, 0, 3};
  const std::vector<int32_t> next = {0, 1, 2, 3};
  EXPECT_EQ(KeepInPlace(now, next, 4, 2), (std::vector<int32_t>{1, 0, 2, 3}));
  EXPECT_THROW(KeepInPlace(now, next, 3, 1), std::invalid_argument);
}

// Rebalancing a drifting load again and again: every rank of the kept placement holds one of
// the new placement's packs of its own node (so balance is unchanged), and it re-fills fewer
// slots than the policy's own layout would.
TEST(KeepInPlaceTest, SameBalanceAndFewerRefillsOnDriftingLoads) {
  constexpr double kDrift = 0.1;  // each round, each expert's load x [0.9, 1.1]
  std::mt19937 rng(11);
  const Case cases[] = {{256, 8, 4, 32, 9}, {256, 1, 1, 8, 33}, {64, 8, 2, 8, 9}};
  for (const Case& c : cases) {
    for (Policy policy : {Policy::kHierarchical, Policy::kGlobal}) {
      const int32_t slots = c.ranks * c.slots_per_rank;
      std::vector<double> load = ZipfLoad(c.experts, 1.0, rng);
      std::vector<int32_t> now = Rebalance(policy, load, slots, c.groups, c.nodes, c.ranks);
      int64_t refills_policy = 0, refills_kept = 0;
      for (int round = 0; round < 10; ++round) {
        for (double& l : load)
          l *= std::uniform_real_distribution<double>(1 - kDrift, 1 + kDrift)(rng);
        const std::vector<int32_t> next =
            Rebalance(policy, load, slots, c.groups, c.nodes, c.ranks);
        const std::vector<int32_t> kept = KeepInPlace(now, next, c.ranks, c.nodes);
        EXPECT_NEAR(RankImbalance(load, kept, c.ranks), RankImbalance(load, next, c.ranks), 1e-9);
        const int32_t per_rank = c.slots_per_rank, per_node = c.ranks / c.nodes;
        for (int32_t r = 0; r < c.ranks; ++r) {
          std::vector<int32_t> held(kept.begin() + r * per_rank, kept.begin() + (r + 1) * per_rank);
          std::sort(held.begin(), held.end());
          bool found = false;
          for (int32_t p = r / per_node * per_node; p < (r / per_node + 1) * per_node; ++p) {
            std::vector<int32_t> pack(next.begin() + p * per_rank,
                                      next.begin() + (p + 1) * per_rank);
            std::sort(pack.begin(), pack.end());
            found = found || pack == held;
          }
          EXPECT_TRUE(found) << "rank " << r << " holds no pack of its node";
        }
        EXPECT_LE(SlotsToRefill(now, kept), SlotsToRefill(now, next));
        refills_policy += SlotsToRefill(now, next);
        refills_kept += SlotsToRefill(now, kept);
        now = kept;
      }
      // Greedy packing is chaotic (a small drift reorders the heaviest-first pass and most
      // experts land elsewhere), so keeping in place saves 10-30% of the re-fills here (seeded:
      // 1880 of 2432 at DeepSeek-V3's EP 32 hierarchical, 465 of 617 at 64 experts on EP 8).
      EXPECT_LT(refills_kept, 0.95 * refills_policy)
          << c.experts << " experts on " << c.ranks << " ranks: " << refills_kept << " vs "
          << refills_policy;
    }
  }
}

TEST(RankImbalanceTest, IdleLayerIsBalanced) {
  EXPECT_DOUBLE_EQ(RankImbalance({0, 0}, {0, 1}, 2), 1.0);
  EXPECT_DOUBLE_EQ(RankImbalance({3, 1}, {0, 1}, 2), 1.5);
}

TEST(LoadWindowTest, SumsTheLastRowsAndStartsOverOnANewWidth) {
  LoadWindow window(2);
  const double a[] = {1, 2}, b[] = {3, 4}, c[] = {5, 6};
  window.Push(a, 2);
  EXPECT_EQ(window.sum(), (std::vector<double>{1, 2}));
  window.Push(b, 2);
  EXPECT_EQ(window.sum(), (std::vector<double>{4, 6}));
  window.Push(c, 2);  // a leaves the window
  EXPECT_EQ(window.sum(), (std::vector<double>{8, 10}));
  window.Push(a, 1);
  EXPECT_EQ(window.sum(), (std::vector<double>{1}));
}

}  // namespace
}  // namespace sy::eplb
