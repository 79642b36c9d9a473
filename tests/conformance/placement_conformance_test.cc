// The placement scheduler conformance suite: every scheduler on the plugin search path with a
// placement function (ABI 1.3; batch-only schedulers are scheduler_conformance_test.cc's) is
// fed thousands of steps of random skewed per-expert loads over several shapes — one and
// several nodes, experts that do and do not split evenly — with its default config. Every
// placement it proposes goes through the host's checks (every id an expert, every expert in
// every layer); the same input must give the same placements; and a step that reports no
// change must leave the host's slots as they were.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/moe/expert_placement.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/placement.h"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

// Enough steps to pass the default rebalancing interval of scheduler.eplb (3000).
constexpr uint64_t kSteps = 4000;

const PlacementShape kShapes[] = {
    {2, 8, 4, 2, 3},   // 2 nodes, 4 redundant slots per layer
    {3, 16, 4, 1, 4},  // no redundancy
    {1, 10, 4, 2, 3},  // experts do not split evenly over ranks
    {2, 6, 3, 1, 3},
};

// Tokens per expert for one step: a Zipf-like skew whose hot experts drift over time.
std::vector<double> StepLoad(const PlacementShape& shape, uint64_t step, std::mt19937& rng) {
  std::vector<double> load(static_cast<size_t>(shape.num_layers) * shape.num_experts);
  for (int32_t l = 0; l < shape.num_layers; ++l) {
    for (int32_t e = 0; e < shape.num_experts; ++e) {
      const int32_t rank = (e + l + static_cast<int32_t>(step / 500)) % shape.num_experts;
      load[l * shape.num_experts + e] =
          std::floor(64.0 / (rank + 1) * std::uniform_real_distribution<double>(0.5, 1.5)(rng));
    }
  }
  return load;
}

class PlacementConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  PlacementScheduler Make() {
    auto component = Component::Create(*DiscoveredPlugins().Find(GetParam()), {});
    EXPECT_TRUE(component.ok()) << component.status();
    auto scheduler = PlacementScheduler::From(*component);
    EXPECT_TRUE(scheduler.ok()) << scheduler.status();
    return *scheduler;
  }

  // Runs kSteps steps on `shape`, applying every proposed placement; returns them all.
  std::vector<Placement> Drive(const PlacementScheduler& scheduler, const PlacementShape& shape) {
    std::mt19937 rng(11);
    Placement current = ExpertPlacement::Initial(shape)->placement();
    std::vector<Placement> proposed;
    for (uint64_t step = 0; step < kSteps; ++step) {
      auto next = scheduler.Observe(current, StepLoad(shape, step, rng), step);
      if (!next.ok()) {
        ADD_FAILURE() << "step " << step << ": " << next.status();
        break;
      }
      if (next->has_value()) current = proposed.emplace_back(**next);
    }
    return proposed;
  }
};

TEST_P(PlacementConformanceTest, ProposesValidPlacementsOnRandomLoads) {
  for (const PlacementShape& shape : kShapes) {
    SCOPED_TRACE(::testing::Message() << shape.num_layers << " layers, " << shape.num_experts
                                      << " experts, " << shape.num_ranks << " ranks");
    for (const Placement& p : Drive(Make(), shape)) {
      EXPECT_TRUE(ValidatePlacement(p, GetParam()).ok());
    }
  }
}

TEST_P(PlacementConformanceTest, IsDeterministic) {
  for (const PlacementShape& shape : kShapes) {
    const std::vector<Placement> a = Drive(Make(), shape), b = Drive(Make(), shape);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].slots, b[i].slots) << "placement " << i;
  }
}

TEST_P(PlacementConformanceTest, AcceptsIdleSteps) {
  const PlacementScheduler scheduler = Make();
  const PlacementShape shape = kShapes[0];
  const Placement current = ExpertPlacement::Initial(shape)->placement();
  const std::vector<double> idle(static_cast<size_t>(shape.num_layers) * shape.num_experts, 0.0);
  for (uint64_t step = 0; step < kSteps; ++step) {
    auto next = scheduler.Observe(current, idle, step);
    ASSERT_TRUE(next.ok()) << "step " << step << ": " << next.status();
  }
}

// Through the C vtable, as the host calls it: changed = 0 leaves the host's array alone.
TEST_P(PlacementConformanceTest, NoChangeLeavesTheSlotsUntouched) {
  auto component = *Component::Create(*DiscoveredPlugins().Find(GetParam()), {});
  const auto* vtable = static_cast<const sy_scheduler_vtable*>(component->vtable());
  const PlacementShape shape = kShapes[0];
  const Placement current = ExpertPlacement::Initial(shape)->placement();
  std::mt19937 rng(5);
  for (uint64_t step = 0; step < kSteps; ++step) {
    const std::vector<double> load = StepLoad(shape, step, rng);
    const sy_placement_state state = {sizeof(sy_placement_state),
                                      shape.num_layers,
                                      shape.num_experts,
                                      shape.num_ranks,
                                      shape.num_nodes,
                                      shape.slots_per_rank,
                                      load.data(),
                                      current.slots.data(),
                                      step};
    std::vector<int32_t> slots = current.slots;
    sy_placement_decision out = {sizeof(sy_placement_decision), slots.data(), 0};
    sy_error* error = vtable->place(component->instance(), &state, &out);
    ASSERT_EQ(error, nullptr) << "step " << step;
    if (out.changed == 0) {
      ASSERT_EQ(slots, current.slots) << "step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllPlacementSchedulers, PlacementConformanceTest,
                         ::testing::ValuesIn(SchedulerNames(/*placement=*/true)),
                         [](const auto& info) { return ComponentTestName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PlacementConformanceTest);

}  // namespace
}  // namespace sy
