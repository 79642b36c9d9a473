// The comm conformance suite: every comm component on the plugin search path, in real
// processes. `switchyard launch -n N` starts N ranks of `switchyard comm-check --comm NAME`,
// which run known-pattern exchanges (uneven and zero counts, large rows, all-reduce) and exit
// non-zero on any wrong byte; a rank killed mid-run must make the others fail within the
// group's timeout, naming it, instead of hanging. A component whose score is 0 for a group of
// that size on this machine (comm.nccl and comm.nvlink without GPUs) is skipped, saying why.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/plugin_host/host_api.h"
#include "tests/support/cli_runner.h"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

using testing_support::CliResult;
using testing_support::RunCli;

// The component's score for a one-host group of `world` ranks (scores read the launcher's
// environment).
int32_t ScoreFor(const std::string& full_name, int world) {
  const std::string n = std::to_string(world);
  setenv("WORLD_SIZE", n.c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
  const auto component = DiscoveredPlugins().Find(full_name);
  const int32_t score = component.ok() ? component->info->desc->score(HostApi()) : 0;
  unsetenv("WORLD_SIZE");
  unsetenv("LOCAL_WORLD_SIZE");
  return score;
}

class CommConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CommConformanceTest, TwoRanksExchangeKnownPatterns) {
  if (ScoreFor(GetParam(), 2) == 0)
    GTEST_SKIP() << GetParam() << " cannot run 2 ranks here (score 0)";
  const CliResult r =
      RunCli("timeout 300 $SY launch -n 2 -- comm-check --comm " + GetParam());
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_P(CommConformanceTest, FourRanksExchangeKnownPatterns) {
  if (ScoreFor(GetParam(), 4) == 0)
    GTEST_SKIP() << GetParam() << " cannot run 4 ranks here (score 0)";
  const CliResult r =
      RunCli("timeout 300 $SY launch -n 4 -- comm-check --comm " + GetParam());
  EXPECT_EQ(r.status, 0) << r.output;
}

// Rank 1 is killed once every rank has connected; the survivors must exit non-zero, naming a
// rank, well before the outer `timeout` (the group's timeout is 5 s).
TEST_P(CommConformanceTest, KilledRankFailsTheOthersWithinTheTimeout) {
  if (ScoreFor(GetParam(), 3) == 0)
    GTEST_SKIP() << GetParam() << " cannot run 3 ranks here (score 0)";
  const CliResult r = RunCli(
      "start=$(date +%s); timeout 60 $SY launch -n 3 -- comm-check --comm " +
      GetParam() +
      " --steps 1000000 --die-rank 1 --die-after-steps 3 --timeout 5 2>&1; "
      "status=$?; echo \"exit=$status seconds=$(( $(date +%s) - start ))\"");
  EXPECT_EQ(r.output.find("exit=0 "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("exit=124 "), std::string::npos) << "hung:\n" << r.output;
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(AllComms, CommConformanceTest,
                         ::testing::ValuesIn(ComponentNames(SY_KIND_COMM)),
                         [](const auto& info) { return ComponentTestName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CommConformanceTest);

}  // namespace
}  // namespace sy
