// Expert parallelism end to end: `switchyard launch -n N` ranks of `perplexity` and `generate`,
// experts sharded over real processes through real comm plugins, must give what one process
// gives. Attention is data-parallel (each rank scores its own windows) and every MoE layer
// dispatches tokens to the ranks holding their experts and combines the results.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/cli_runner.h"
#include "tests/support/expert_parallel_fixture.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using testing_support::CliResult;
using testing_support::ExpectRebalancedForTheBetter;
using testing_support::PerplexityOf;
using testing_support::RunCli;
using testing_support::RunSwitchyard;

const testing_support::ExpertParallelFiles& Files() {
  return testing_support::SeededQwen2MoeAndText();
}

// The result line of `perplexity` (model, text, tokens, windows, nll/token, perplexity) without
// its tokens/s column, which differs run to run.
std::string ScoreLine(const std::string& output) {
  const size_t at = output.find(Files().model.substr(Files().model.rfind('/') + 1) + "  ");
  if (at == std::string::npos) return "no result line in:\n" + output;
  std::string line = output.substr(at, output.find('\n', at) - at);
  return line.substr(0, line.find_last_not_of("0123456789 ") + 1);
}

CliResult RunPerplexity(const std::string& launch, const std::string& extra) {
  const CliResult r =
      RunSwitchyard(absl::StrCat(launch, "perplexity --model ", Files().model, " --text ",
                                 Files().text, " --window 32 ", extra, " 2>&1"));
  EXPECT_EQ(r.status, 0) << r.output;
  return r;
}

std::string Perplexity(const std::string& launch, const std::string& extra = "") {
  return ScoreLine(RunPerplexity(launch, extra).output);
}

class ExpertParallelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpertParallelTest, TwoAndFourRanksScoreWhatOneProcessScores) {
  const std::string one = Perplexity("");
  ASSERT_THAT(one, HasSubstr(" 19 "));  // 600 tokens in windows of 32
  for (const char* n : {"2", "4"}) {
    SCOPED_TRACE(absl::StrCat(n, " ranks over ", GetParam()));
    EXPECT_EQ(
        Perplexity(absl::StrCat("launch -n ", n, " --timeout 60 -- "), "--comm " + GetParam()),
        one);
  }
}

TEST_P(ExpertParallelTest, RedundantReplicasChangeNothing) {
  EXPECT_EQ(
      Perplexity("launch -n 2 --timeout 60 -- ", "--comm " + GetParam() + " --redundant-experts 2"),
      Perplexity(""));
}

TEST_P(ExpertParallelTest, GenerateUnderLaunchContinuesLikeOneProcess) {
  // stdout only: the generated text (timings and rank tags go to stderr).
  const std::string args =
      absl::StrCat("generate --model ", Files().model, " --prompt 'The list type' --max-tokens 24");
  const CliResult one = RunCli("($SY " + args + " 2>/dev/null)");
  ASSERT_EQ(one.status, 0) << one.output;
  const CliResult two = RunCli("($SY launch -n 2 --timeout 60 -- " + args + " --comm " +
                               GetParam() + " 2>/dev/null)");
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_EQ(two.output, one.output);  // rank 0 prints the text; the others lend their experts
}

// Online EPLB: the seeded model's router is skewed (2 ranks: max/mean tokens per rank 1.29
// over the first two steps with experts sharded contiguously), so the balancer moves experts
// every few steps; the experts that compute each token stay the same, so the score does too.
TEST_P(ExpertParallelTest, OnlineRebalancingMovesExpertsAndChangesNothing) {
  const std::string one = Perplexity("");
  for (const char* replicas : {"0", "2"}) {
    SCOPED_TRACE(absl::StrCat(replicas, " redundant experts over ", GetParam()));
    const CliResult two =
        RunPerplexity("launch -n 2 --timeout 60 -- ",
                      absl::StrCat("--comm ", GetParam(), " --redundant-experts ", replicas,
                                   " --rebalance-interval 2 --rebalance-window 4"));
    EXPECT_EQ(ScoreLine(two.output), one);
    ExpectRebalancedForTheBetter(two.output);
  }
}

TEST_P(ExpertParallelTest, GenerateWithOnlineRebalancingContinuesLikeOneProcess) {
  const std::string args =
      absl::StrCat("generate --model ", Files().model, " --prompt 'The list type' --max-tokens 24");
  const CliResult one = RunCli("($SY " + args + " 2>/dev/null)");
  ASSERT_EQ(one.status, 0) << one.output;
  const testing_support::ScopedScratchDir scratch;
  const std::string log = scratch.File("stderr.log");  // stdout holds only the text
  const CliResult two = RunCli("($SY launch -n 2 --timeout 60 -- " + args + " --comm " +
                               GetParam() + " --rebalance-interval 4 2>" + log + ")");
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_EQ(two.output, one.output);
  ExpectRebalancedForTheBetter(RunCli("cat " + log).output);
}

// The perplexity of `model` (a --model option, or none: the built-in model) on the fixture's
// text in one process, or with `dispatch_dtype` on 2 ranks over comm.pcie.
double ScoreWith(const std::string& model, const std::string& dispatch_dtype = "") {
  const std::string launch = dispatch_dtype.empty() ? "" : "launch -n 2 --timeout 60 -- ";
  const std::string ep =
      dispatch_dtype.empty() ? "" : " --comm comm.pcie --dispatch-dtype " + dispatch_dtype;
  const CliResult r = RunSwitchyard(absl::StrCat(launch, "perplexity ", model, " --text ",
                                                 Files().text, " --window 32", ep, " 2>&1"));
  EXPECT_EQ(r.status, 0) << r.output;
  return PerplexityOf(r.output);
}

// Quantized dispatch rounds the hidden rows on their way to the experts (the combine stays
// f32), so 2 ranks score close to, not exactly, what one process scores. Tolerances: a wide
// margin over what was measured, tight enough that a dispatch which loses the fp8 scales
// (+4% on the make-model model, x11 on the built-in one) or scrambles rows fails.
TEST(ExpertParallelDispatchDTypeTest, MakeModelScoresCloseToOneProcess) {
  const std::string model = "--model " + Files().model;
  const double one = ScoreWith(model);
  EXPECT_EQ(ScoreWith(model, "f32"), one);
  EXPECT_EQ(ScoreLine(RunPerplexity("launch -n 2 --timeout 60 -- ",
                                    "--comm comm.pcie --dispatch-dtype f32")
                          .output),
            Perplexity(""));
  // Measured: 1 rank 502.811; bf16 502.811 (within the printed 3 decimals); fp8 502.813.
  EXPECT_NEAR(ScoreWith(model, "bf16") / one, 1.0, 5e-4);
  EXPECT_NEAR(ScoreWith(model, "fp8") / one, 1.0, 1e-3);
}

// The built-in model is trained, so its score feels the rounding more than the seeded model's.
TEST(ExpertParallelDispatchDTypeTest, BuiltinModelScoresCloseToOneProcess) {
  const double one = ScoreWith("");
  EXPECT_EQ(ScoreWith("", "f32"), one);
  // Measured: 1 rank 107.804; bf16 107.767 (-0.03%); fp8 108.331 (+0.49%).
  EXPECT_NEAR(ScoreWith("", "bf16") / one, 1.0, 2e-3);
  EXPECT_NEAR(ScoreWith("", "fp8") / one, 1.0, 1.5e-2);
}

INSTANTIATE_TEST_SUITE_P(CpuBackends, ExpertParallelTest,
                         ::testing::Values("comm.pcie", "comm.ucx"),
                         [](const auto& info) { return info.param.substr(5); });

TEST(ExpertParallelErrorsTest, CommandsWithoutExpertParallelismRefuseLaunch) {
  const CliResult r =
      RunSwitchyard("launch -n 2 --timeout 30 -- bench eplb --text " + Files().text + " 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("this command does not run expert-parallel"));
}

// bench decode under launch: each rank decodes its own batch in the same steps; rank 0 prints
// one table whose tokens/s count both ranks', and every rank exits 0.
TEST(ExpertParallelBenchTest, BenchDecodeRunsExpertParallel) {
  const CliResult r =
      RunSwitchyard("launch -n 2 --timeout 60 -- bench decode --model " + Files().model +
                    " --batch 1,3 --context 8 --steps 2 --comm comm.pcie 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("expert-parallel over 2 ranks (comm.pcie)"));
  EXPECT_THAT(r.output, ContainsRegex("\n1 +[0-9.]+ +[0-9.]+"));
  EXPECT_THAT(r.output, ContainsRegex("\n3 +[0-9.]+ +[0-9.]+"));
  const size_t table = r.output.find("BATCH  STEP MS");
  ASSERT_NE(table, std::string::npos);
  EXPECT_EQ(r.output.find("BATCH  STEP MS", table + 1), std::string::npos) << "one table";
}

// With online EPLB, bench decode's steps feed the rebalancer like a server's, and rank 0 says
// after the table how often it moved experts (issue 8's imbalance before and after).
TEST(ExpertParallelBenchTest, BenchDecodeReportsOnlineRebalancing) {
  const CliResult r =
      RunSwitchyard("launch -n 2 --timeout 60 -- bench decode --model " + Files().model +
                    " --batch 3 --context 8 --steps 2 --comm comm.pcie --redundant-experts 2 "
                    "--rebalance-interval 2 --rebalance-window 2 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  ExpectRebalancedForTheBetter(r.output);
}

TEST(ExpertParallelErrorsTest, BadOptionsNameTheOption) {
  CliResult r = RunSwitchyard("launch -n 2 --timeout 30 -- perplexity --text " + Files().text +
                              " --redundant-experts x 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--redundant-experts: expected an integer >= 0, got 'x'"));
  r = RunSwitchyard("launch -n 2 --timeout 30 -- perplexity --text " + Files().text +
                    " --comm comm.bogus 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("comm.bogus"));
  r = RunSwitchyard("launch -n 2 --timeout 30 -- perplexity --text " + Files().text +
                    " --dispatch-dtype fp16 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output,
              HasSubstr("--dispatch-dtype: unknown dispatch dtype 'fp16' (f32, bf16, fp8)"));
  r = RunSwitchyard("perplexity --text " + Files().text + " --dispatch-dtype bf16 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--dispatch-dtype sets how tokens travel between "
                                  "expert-parallel ranks: run under switchyard launch"));
}

// Each bad rebalancing option under launch fails every rank before any step, naming the cause.
TEST(ExpertParallelErrorsTest, BadRebalancingOptionsNameTheCause) {
  const std::pair<const char*, const char*> cases[] = {
      {"--rebalance-interval -1", "--rebalance-interval: expected an integer >= 0, got '-1'"},
      {"--rebalance-interval often", "--rebalance-interval: expected an integer >= 0, got 'often'"},
      {"--rebalance-interval 2 --rebalance-window 0",
       "--rebalance-window: expected an integer >= 1, got '0'"},
      {"--rebalance-window 8",
       "--rebalance-window configures online rebalancing, which is off: add --rebalance-interval"},
      {"--rebalance-interval 2 --placement-scheduler scheduler.continuous",
       "scheduler.continuous is a batch scheduler; expert placement needs a placement scheduler"},
      {"--rebalance-interval 2 --placement-scheduler scheduler.bogus", "scheduler.bogus"},
  };
  for (const auto& [options, error] : cases) {
    const CliResult r =
        RunSwitchyard("launch -n 2 --timeout 30 -- perplexity --model " + Files().model +
                      " --text " + Files().text + " " + options + " 2>&1");
    EXPECT_NE(r.status, 0) << options;
    EXPECT_THAT(r.output, HasSubstr(error)) << options;
  }
}

TEST(ExpertParallelErrorsTest, RebalancingNeedsExpertParallelism) {
  CliResult r = RunSwitchyard("perplexity --text " + Files().text + " --rebalance-interval 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--rebalance-interval balances experts over expert-parallel "
                                  "ranks: run under switchyard launch"));
  // serve runs expert-parallel too, so one process of it refuses the option the same way.
  r = RunSwitchyard("serve --port 0 --skip-plan-check --rebalance-interval 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--rebalance-interval balances experts over expert-parallel "
                                  "ranks: run under switchyard launch"));
}

}  // namespace
}  // namespace sy
