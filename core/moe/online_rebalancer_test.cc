// The online rebalancer with the real scheduler.eplb: counting a layer's routed tokens, the
// window and interval, the report of imbalance before and after, and the switch of
// ExpertParallelism::placement at the end of a step (over comm.local: a world of one rank, whose
// all-reduce is the identity; tests/e2e/expert_parallel_test.cc runs real ranks).
#include "core/moe/online_rebalancer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/component_registry.h"
#include "tests/support/thread_comm_group.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

// Routed expert ids [rows, k] as a router returns them.
Tensor Ids(int64_t rows, int64_t k, const std::vector<int32_t>& ids) {
  Tensor t = *Tensor::Empty({rows, k}, DType::kI32);
  std::copy(ids.begin(), ids.end(), t.data<int32_t>());
  return t;
}

// 2 MoE layers of 4 experts on 2 ranks of 2 slots, sharded contiguously: [0 1 | 2 3].
const PlacementShape kShape = {2, 4, 2, 1, 2};

// Layer 0's two hot experts share rank 0 (20 of 22 tokens: max/mean 20 / 11); layer 1 is even.
const std::vector<double> kSkewed = {10, 10, 1, 1, 5, 5, 5, 5};

class OnlineRebalancerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* lib : {"sy_scheduler_eplb", "sy_comm_local"}) {
      ASSERT_TRUE(
          registry_
              .LoadLibrary(std::string(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/") + lib + ".so")
              .ok());
    }
    ctx_ = *ExecContext::Create(Device::Cpu(), 1);
  }

  OnlineRebalancer Make(ConfigTable extra = {}) {
    ConfigTable config = {{"window_steps", ConfigValue{int64_t{4}}},
                          {"interval_steps", ConfigValue{int64_t{2}}}};
    for (auto& entry : extra) config.push_back(std::move(entry));
    auto component = Component::Create(*registry_.Find("scheduler.eplb"), {std::move(config)});
    EXPECT_TRUE(component.ok()) << component.status();
    return OnlineRebalancer(*PlacementScheduler::From(*component),
                            {.window_steps = 4, .interval_steps = 2});
  }

  // comm.local joined as the only rank, under the contiguous placement of kShape.
  std::shared_ptr<ExpertParallelism> Parallelism(std::shared_ptr<OnlineRebalancer> rebalancer) {
    auto comm = *Comm::From(*Component::Create(*registry_.Find("comm.local"), {}));
    EXPECT_TRUE(comm.Connect(*ctx_, group_.Member(0, 1000)).ok());
    auto ep = std::make_shared<ExpertParallelism>();
    ep->comm = std::make_shared<Comm>(std::move(comm));
    ep->placement = std::make_shared<const ExpertPlacement>(*ExpertPlacement::Initial(kShape));
    ep->rebalancer = std::move(rebalancer);
    return ep;
  }

  // One step as RunExpertParallel records it: each layer's routing of this rank's tokens.
  absl::Status Step(OnlineRebalancer& r, const ExpertParallelism& ep) {
    // Layer 0: experts 0 and 1 take 10 tokens each, 2 and 3 one; layer 1 even.
    std::vector<int32_t> hot, even;
    for (int i = 0; i < 10; ++i) hot.insert(hot.end(), {0, 1});
    hot.insert(hot.end(), {2, 3, -1, -1});
    for (int i = 0; i < 5; ++i) even.insert(even.end(), {0, 1, 2, 3});
    const Tensor layer0 = Ids(12, 2, hot);
    const Tensor layer1 = Ids(10, 2, even);
    SY_RETURN_IF_ERROR(r.RecordLayer(*ctx_, ep, 0, layer0));
    return r.RecordLayer(*ctx_, ep, 1, layer1);
  }

  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  testing_support::ThreadCommGroup group_{1};
};

TEST(CountRoutedTokensTest, AddsEachExpertsSlotsAndSkipsDropped) {
  const Tensor ids = Ids(3, 2, {0, 2, 2, -1, 3, 0});
  std::vector<int64_t> counts = {1, 0, 0, 0};
  CountRoutedTokens(ids, 4, counts.data());
  EXPECT_EQ(counts, (std::vector<int64_t>{3, 0, 2, 1}));
}

TEST(PlacementFingerprintTest, EqualPlacementsOnlyShareOne) {
  const Placement a{kShape, {0, 1, 2, 3, 0, 1, 2, 3}}, b{kShape, {0, 2, 1, 3, 0, 1, 2, 3}};
  EXPECT_EQ(PlacementFingerprint(a), PlacementFingerprint(Placement{kShape, a.slots}));
  EXPECT_NE(PlacementFingerprint(a), PlacementFingerprint(b));
  EXPECT_GE(PlacementFingerprint(a), 0);
  EXPECT_LT(PlacementFingerprint(a), int64_t{1} << 31);
}

TEST_F(OnlineRebalancerTest, MovesTheSkewedLayerAtTheIntervalAndReportsTheGain) {
  OnlineRebalancer r = Make();
  const ExpertPlacement current = *ExpertPlacement::Initial(kShape);
  auto first = r.ObserveStep(current, kSkewed);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, nullptr);  // not yet the interval
  EXPECT_FALSE(r.last_report().has_value());

  auto second = r.ObserveStep(current, kSkewed);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_NE(*second, nullptr);
  const ExpertPlacement& next = **second;
  EXPECT_EQ(r.steps(), 2u);
  EXPECT_EQ(r.rebalances(), 1);
  // Layer 0: the hot experts now on different ranks; layer 1 (even) left as it was.
  EXPECT_NE(next.rank_of_slot(next.replicas(0, 0)[0]), next.rank_of_slot(next.replicas(0, 1)[0]));
  for (int32_t slot = 0; slot < 4; ++slot) EXPECT_EQ(next.expert(1, slot), current.expert(1, slot));

  ASSERT_TRUE(r.last_report().has_value());
  const RebalanceReport& report = *r.last_report();
  EXPECT_EQ(report.step, 2u);
  EXPECT_EQ(report.window_steps, 2);
  EXPECT_EQ(report.layers_moved, 1);
  ASSERT_EQ(report.layers.size(), 2u);
  EXPECT_DOUBLE_EQ(report.layers[0].logical, 20.0 / 11);
  EXPECT_DOUBLE_EQ(report.layers[0].before, 20.0 / 11);
  EXPECT_DOUBLE_EQ(report.layers[0].after, 1.0);  // 11 and 11
  EXPECT_DOUBLE_EQ(report.layers[1].before, 1.0);
  EXPECT_DOUBLE_EQ(report.layers[1].after, 1.0);
  EXPECT_THAT(report.Describe(), HasSubstr("step 2: moved 1 of 2 MoE layers; max/mean tokens per "
                                           "rank over the last 2 steps 1.409 -> 1.000"));
  EXPECT_EQ(report.slots, 8);
  EXPECT_EQ(report.slots_refilled, [&] {
    int64_t changed = 0;
    for (int32_t slot = 0; slot < 4; ++slot)
      changed += next.expert(0, slot) != current.expert(0, slot);
    return changed;
  }());
  EXPECT_GT(report.slots_refilled, 0);
  EXPECT_THAT(report.Describe(), HasSubstr(absl::StrCat("worst layer 0 1.818 -> 1.000; re-filled ",
                                                        report.slots_refilled, " of 8 slots")));
  ASSERT_TRUE(r.last_rebalance().has_value());

  // Balanced now: the next interval keeps it, and still reports.
  for (int step = 0; step < 2; ++step) {
    auto kept = r.ObserveStep(next, kSkewed);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_EQ(*kept, nullptr);
  }
  EXPECT_EQ(r.last_report()->step, 4u);
  EXPECT_EQ(r.last_report()->layers_moved, 0);
  EXPECT_DOUBLE_EQ(r.last_report()->layers[0].after, 1.0);
  EXPECT_EQ(r.rebalances(), 1);
  EXPECT_EQ(r.last_rebalance()->step, 2u);
}

TEST_F(OnlineRebalancerTest, TheLastLayerOfAStepSwitchesThePlacement) {
  auto rebalancer = std::make_shared<OnlineRebalancer>(Make());
  const auto ep = Parallelism(rebalancer);
  const std::shared_ptr<const ExpertPlacement> initial = ep->placement;
  ASSERT_TRUE(rebalancer->RecordLayer(*ctx_, *ep, 0, Ids(1, 2, {0, 1})).ok());
  EXPECT_EQ(rebalancer->steps(), 0u);  // a step ends with the last MoE layer
  ASSERT_TRUE(rebalancer->RecordLayer(*ctx_, *ep, 1, Ids(1, 2, {0, 1})).ok());
  EXPECT_EQ(rebalancer->steps(), 1u);

  EXPECT_EQ(ep->placement, initial);

  ASSERT_TRUE(Step(*rebalancer, *ep).ok());  // step 2, the interval
  ASSERT_NE(ep->placement, initial);
  EXPECT_EQ(rebalancer->rebalances(), 1);
  // The window as counted from routing: layer 0 took {1, 1, 0, 0} then {10, 10, 1, 1}.
  const RebalanceReport& report = *rebalancer->last_rebalance();
  EXPECT_EQ(report.step, 2u);
  EXPECT_DOUBLE_EQ(report.layers[0].before, 22.0 / 12);
  EXPECT_DOUBLE_EQ(report.layers[0].after, 1.0);
  EXPECT_TRUE(ValidatePlacement(ep->placement->placement(), "switched").ok());

  // The next steps run under the new placement: the fingerprints agree, nothing moves.
  const std::shared_ptr<const ExpertPlacement> switched = ep->placement;
  for (int step = 0; step < 2; ++step) ASSERT_TRUE(Step(*rebalancer, *ep).ok());
  EXPECT_EQ(ep->placement, switched);
  EXPECT_EQ(rebalancer->last_report()->step, 4u);
}

TEST_F(OnlineRebalancerTest, ASchedulerErrorKeepsThePlacementInForce) {
  // Hierarchical with 3 groups cannot split 4 experts: the plugin fails at the interval.
  auto rebalancer =
      std::make_shared<OnlineRebalancer>(Make({{"policy", ConfigValue{std::string("hierarchical")}},
                                               {"num_groups", ConfigValue{int64_t{3}}}}));
  const auto ep = Parallelism(rebalancer);
  const std::shared_ptr<const ExpertPlacement> initial = ep->placement;
  for (int step = 0; step < 4; ++step) ASSERT_TRUE(Step(*rebalancer, *ep).ok());
  EXPECT_EQ(ep->placement, initial);
  EXPECT_EQ(rebalancer->rebalances(), 0);
  auto direct = rebalancer->ObserveStep(*initial, kSkewed);
  EXPECT_TRUE(direct.ok());  // step 5: between intervals the plugin only records
  direct = rebalancer->ObserveStep(*initial, kSkewed);
  ASSERT_FALSE(direct.ok());
  EXPECT_THAT(std::string(direct.status().message()), HasSubstr("scheduler.eplb"));
}

}  // namespace
}  // namespace sy
