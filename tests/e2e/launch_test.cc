// `switchyard launch` and `switchyard comm-check` as a user runs them: real processes, real
// shared memory and sockets. A killed rank, an unreachable rank 0 and bad rank variables must
// end every process quickly with a message that names the cause.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/distributed/free_port.h"
#include "tests/support/cli_runner.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::CliResult;
using testing_support::RunCli;
using testing_support::RunSwitchyard;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST(LaunchTest, TwoRanksCheckCommPcie) {
  const CliResult r =
      RunSwitchyard("launch -n 2 --timeout 30 -- comm-check --comm comm.pcie --steps 20");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rank 0/2 (pid"));
  EXPECT_THAT(r.output, HasSubstr("[rank 1] rank 1/2 (pid"));
  EXPECT_THAT(r.output, HasSubstr("comm.pcie OK, 20 steps"));
}

TEST(LaunchTest, FourRanksCheckCommPcieInSmallChunks) {
  // Rank 0's stdout passes through untagged; the other ranks' lines are tagged on stderr.
  const CliResult r = RunCli(
      "($SY launch -n 4 --timeout 30 -- comm-check --steps 10 --rows 200 --width 300 2>/dev/null)");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rank 0/4"));
  EXPECT_THAT(r.output, Not(HasSubstr("[rank")));
  const CliResult all = RunSwitchyard("launch -n 4 --timeout 30 -- comm-check --steps 3");
  EXPECT_EQ(all.status, 0) << all.output;
  for (int rank = 1; rank < 4; ++rank) {
    EXPECT_THAT(all.output, HasSubstr(absl::StrCat("[rank ", rank, "] rank ", rank, "/4")));
  }
}

TEST(LaunchTest, AKilledRankEndsTheOthersWithAClearErrorInsteadOfAHang) {
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = RunSwitchyard(
      "launch -n 3 --timeout 30 -- comm-check --steps 100000 --die-rank 1 --die-after-steps 3");
  EXPECT_LT(Seconds(start), 20);
  EXPECT_EQ(r.status, 128 + 9) << r.output;
  EXPECT_THAT(r.output, HasSubstr("switchyard launch: rank 1 (pid"));
  EXPECT_THAT(r.output, HasSubstr("was killed by signal 9"));
  // The survivors report the dead rank themselves.
  EXPECT_THAT(r.output, testing::ContainsRegex("\\[rank [02]\\] switchyard comm-check: .*rank 1 "
                                               "\\(pid [0-9]+\\)"));
}

TEST(LaunchTest, AKilledRankZeroEndsTheOthers) {
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = RunSwitchyard(
      "launch -n 2 --timeout 30 -- comm-check --steps 100000 --die-rank 0 --die-after-steps 2");
  EXPECT_LT(Seconds(start), 20);
  EXPECT_NE(r.status, 0);
  // Rank 0 dies before step 2's all_to_all, but rank 1 may still be finishing step 1's
  // all_reduce_sum (its last handshake with rank 0) when it does: either names rank 0.
  EXPECT_THAT(r.output, testing::ContainsRegex("\\[rank 1\\] switchyard comm-check: comm.pcie: "
                                               "(all_to_all|all_reduce_sum): rank 0 \\(pid"));
}

TEST(LaunchTest, AnUnresolvableMasterAddrFailsFast) {
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = RunCli(
      "RANK=1 WORLD_SIZE=2 MASTER_ADDR=no-such-host.invalid MASTER_PORT=29999 $SY comm-check "
      "--timeout 60");
  EXPECT_LT(Seconds(start), 15);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot resolve MASTER_ADDR 'no-such-host.invalid'"));
}

TEST(LaunchTest, ARefusedPortFailsWithinTheTimeoutNamingTheAddress) {
  const int port = *FreeTcpPort();
  const auto start = std::chrono::steady_clock::now();
  const CliResult r =
      RunCli(absl::StrCat("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=", port,
                          " $SY comm-check --timeout 2"));
  EXPECT_LT(Seconds(start), 10);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("MASTER_ADDR:MASTER_PORT = 127.0.0.1:", port)));
  EXPECT_THAT(r.output, HasSubstr("did not accept a connection within 2 s"));
}

TEST(LaunchTest, BadRankVariablesNameTheVariable) {
  CliResult r = RunCli("RANK=x WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 $SY comm-check");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("RANK='x' is not an integer"));
  r = RunCli("RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 $SY comm-check");
  EXPECT_THAT(r.output, HasSubstr("RANK=2 must be less than WORLD_SIZE=2"));
  r = RunCli("RANK=0 WORLD_SIZE=2 $SY comm-check");
  EXPECT_THAT(r.output, HasSubstr("MASTER_ADDR is not set"));
}

TEST(LaunchTest, ABackendForOneRankIsRefusedClearly) {
  const CliResult r = RunSwitchyard("launch -n 2 --timeout 30 -- comm-check --comm comm.local");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("comm.local runs a world of 1 rank; this group has 2"));
  const CliResult one = RunSwitchyard("comm-check --comm comm.local --steps 3");
  EXPECT_EQ(one.status, 0) << one.output;
  EXPECT_THAT(one.output, HasSubstr("rank 0/1"));
}

TEST(LaunchTest, Usage) {
  EXPECT_EQ(RunSwitchyard("launch -- comm-check").status, 2);
  EXPECT_EQ(RunSwitchyard("launch -n 2").status, 2);
  EXPECT_EQ(RunSwitchyard("launch -n 2 comm-check").status, 2);
  const CliResult help = RunSwitchyard("launch --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.output, HasSubstr("Usage: switchyard launch -n N"));
  EXPECT_THAT(RunSwitchyard("comm-check --help").output, HasSubstr("--die-rank"));
}

}  // namespace
}  // namespace sy
