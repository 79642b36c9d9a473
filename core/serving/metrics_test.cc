#include "core/serving/metrics.h"

#include <gtest/gtest.h>

namespace sy {
namespace {

TEST(ServingMetricsTest, NoPlacementGaugesWithoutExpertParallelism) {
  ServingMetrics metrics;
  EXPECT_EQ(metrics.Render().find("switchyard_ep_rank_imbalance"), std::string::npos);
}

TEST(ServingMetricsTest, RendersPlacementImbalancePerLayer) {
  ServingMetrics metrics;
  metrics.SetPlacementImbalance(1, 2.5, 1.5, 1.25);
  metrics.SetPlacementImbalance(0, 3, 2, 2);
  metrics.SetPlacementImbalance(0, 1.5, 1.25, 1.0625);  // replaces layer 0's
  const std::string text = metrics.Render();
  const std::string expected =
      "# TYPE switchyard_ep_rank_imbalance gauge\n"
      "switchyard_ep_rank_imbalance{layer=\"0\",placement=\"logical\"} 1.5\n"
      "switchyard_ep_rank_imbalance{layer=\"0\",placement=\"previous\"} 1.25\n"
      "switchyard_ep_rank_imbalance{layer=\"0\",placement=\"balanced\"} 1.0625\n"
      "switchyard_ep_rank_imbalance{layer=\"1\",placement=\"logical\"} 2.5\n"
      "switchyard_ep_rank_imbalance{layer=\"1\",placement=\"previous\"} 1.5\n"
      "switchyard_ep_rank_imbalance{layer=\"1\",placement=\"balanced\"} 1.25\n";
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP switchyard_ep_rank_imbalance Max over mean"), std::string::npos);
}

TEST(ServingMetricsTest, CountsRebalancesOnlyWhenRebalancing) {
  ServingMetrics metrics;
  EXPECT_EQ(metrics.Render().find("switchyard_ep_rebalances_total"), std::string::npos);
  metrics.SetRebalances(3);
  EXPECT_NE(metrics.Render().find("# TYPE switchyard_ep_rebalances_total counter\n"
                                  "switchyard_ep_rebalances_total 3\n"),
            std::string::npos)
      << metrics.Render();
}

TEST(ServingMetricsTest, CountsStepsByExchangeOnlyUnderExpertParallelism) {
  ServingMetrics metrics;
  EXPECT_EQ(metrics.Render().find("switchyard_ep_steps_total"), std::string::npos);
  metrics.SetExchangeSteps(7, 2);
  EXPECT_NE(metrics.Render().find("# TYPE switchyard_ep_steps_total counter\n"
                                  "switchyard_ep_steps_total{exchange=\"direct\"} 7\n"
                                  "switchyard_ep_steps_total{exchange=\"collective\"} 2\n"),
            std::string::npos)
      << metrics.Render();
}

}  // namespace
}  // namespace sy
