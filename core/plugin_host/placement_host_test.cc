// The host side of placement schedulers: which components qualify, and the checks on the
// placements they return.
#include <gtest/gtest.h>

#include "core/plugin_host/component_registry.h"
#include "core/plugin_host/placement.h"
#include "core/plugin_host/scheduler.h"

namespace sy {
namespace {

const PlacementShape kShape = {2, 4, 2, 1, 3};  // 2 layers, 4 experts, 2 ranks of 3 slots

TEST(ValidatePlacementTest, AcceptsEveryExpertPlacedWithReplicas) {
  EXPECT_TRUE(ValidatePlacement({kShape, {0, 1, 1, 2, 3, 3, 3, 2, 1, 0, 0, 0}}, "test").ok());
}

TEST(ValidatePlacementTest, RefusesAnExpertOutOfRange) {
  const absl::Status s = ValidatePlacement({kShape, {0, 1, 1, 2, 3, 4, 3, 2, 1, 0, 0, 0}}, "x.y");
  EXPECT_EQ(s.message(), "x.y put expert 4 in layer 0 slot 5; experts are 0..3");
}

TEST(ValidatePlacementTest, RefusesAnExpertWithoutASlot) {
  const absl::Status s = ValidatePlacement({kShape, {0, 1, 1, 2, 3, 3, 3, 2, 1, 1, 1, 1}}, "x.y");
  EXPECT_EQ(s.message(), "x.y left expert 0 of layer 1 without a slot");
}

TEST(ValidatePlacementTest, RefusesTheWrongSizeAndImpossibleShapes) {
  EXPECT_FALSE(ValidatePlacement({kShape, {0, 1, 2, 3}}, "x.y").ok());
  EXPECT_FALSE(ValidateShape({1, 8, 2, 1, 3}).ok());  // 6 slots, 8 experts
  EXPECT_FALSE(ValidateShape({1, 4, 3, 2, 3}).ok());  // 2 nodes do not split 3 ranks
}

class PlacementKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* lib : {"sy_scheduler_eplb", "sy_scheduler_continuous"}) {
      ASSERT_TRUE(
          registry_
              .LoadLibrary(std::string(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/") + lib + ".so")
              .ok());
    }
  }
  std::shared_ptr<Component> Make(const std::string& name) {
    return *Component::Create(*registry_.Find(name), {});
  }
  ComponentRegistry registry_;
};

TEST_F(PlacementKindTest, RefusesABatchScheduler) {
  auto placement = PlacementScheduler::From(Make("scheduler.continuous"));
  ASSERT_FALSE(placement.ok());
  EXPECT_NE(placement.status().message().find("scheduler.continuous is a batch scheduler"),
            std::string::npos);
}

TEST_F(PlacementKindTest, TheEngineRefusesAPlacementScheduler) {
  EXPECT_TRUE(PlacementScheduler::From(Make("scheduler.eplb")).ok());
  auto batch = Scheduler::From(Make("scheduler.eplb"));
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("is a placement scheduler"), std::string::npos);
}

TEST_F(PlacementKindTest, ObserveChecksTheLoadShape) {
  auto eplb = *PlacementScheduler::From(Make("scheduler.eplb"));
  const Placement current = {kShape, {0, 1, 1, 2, 3, 3, 3, 2, 1, 0, 0, 0}};
  EXPECT_FALSE(eplb.Observe(current, {1, 2, 3}, 0).ok());
  auto kept = eplb.Observe(current, std::vector<double>(8, 1.0), 0);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->has_value());
}

}  // namespace
}  // namespace sy
