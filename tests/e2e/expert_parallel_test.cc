// Expert parallelism end to end: `switchyard launch -n N` ranks of `perplexity` and `generate`,
// experts sharded over real processes through real comm plugins, must give what one process
// gives. Attention is data-parallel (each rank scores its own windows) and every MoE layer
// dispatches tokens to the ranks holding their experts and combines the results.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/cli_runner.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using testing_support::CliResult;
using testing_support::RunCli;
using testing_support::RunSwitchyard;

// A small Qwen2-MoE with 8 experts, a shared expert and a text to score, made once.
struct Fixture {
  std::string model, text;
};

const Fixture& Files() {
  static const Fixture files = [] {
    Fixture f;
    const std::string dir = testing_support::ScratchDir() + "/ep";
    f.model = dir + "/qwen2";
    f.text = dir + "/text.txt";
    const CliResult made = RunCli("rm -rf " + dir + " && mkdir -p " + dir + " && $SY make-model " +
                                  "--arch qwen2_moe --seed 7 --out " + f.model + " >/dev/null");
    EXPECT_EQ(made.status, 0) << made.output;
    RunCli("for i in 1 2 3 4 5 6 7 8; do echo 'The list type is a mutable sequence; a tuple is "
           "not. Dictionaries map keys to values, sets hold unique items.'; done > " +
           f.text);
    return f;
  }();
  return files;
}

// The result line of `perplexity` (model, text, tokens, windows, nll/token, perplexity) without
// its tokens/s column, which differs run to run.
std::string ScoreLine(const std::string& output) {
  const size_t at = output.find(Files().model.substr(Files().model.rfind('/') + 1) + "  ");
  if (at == std::string::npos) return "no result line in:\n" + output;
  std::string line = output.substr(at, output.find('\n', at) - at);
  return line.substr(0, line.find_last_not_of("0123456789 ") + 1);
}

std::string Perplexity(const std::string& launch, const std::string& extra = "") {
  const CliResult r =
      RunSwitchyard(absl::StrCat(launch, "perplexity --model ", Files().model, " --text ",
                                 Files().text, " --window 32 ", extra, " 2>&1"));
  EXPECT_EQ(r.status, 0) << r.output;
  return ScoreLine(r.output);
}

class ExpertParallelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpertParallelTest, TwoAndFourRanksScoreWhatOneProcessScores) {
  const std::string one = Perplexity("");
  ASSERT_THAT(one, HasSubstr(" 19 "));  // 600 tokens in windows of 32
  for (const char* n : {"2", "4"}) {
    SCOPED_TRACE(absl::StrCat(n, " ranks over ", GetParam()));
    EXPECT_EQ(Perplexity(absl::StrCat("launch -n ", n, " --timeout 60 -- "),
                         "--comm " + GetParam()),
              one);
  }
}

TEST_P(ExpertParallelTest, RedundantReplicasChangeNothing) {
  EXPECT_EQ(Perplexity("launch -n 2 --timeout 60 -- ",
                       "--comm " + GetParam() + " --redundant-experts 2"),
            Perplexity(""));
}

TEST_P(ExpertParallelTest, GenerateUnderLaunchContinuesLikeOneProcess) {
  // stdout only: the generated text (timings and rank tags go to stderr).
  const std::string args = absl::StrCat("generate --model ", Files().model,
                                        " --prompt 'The list type' --max-tokens 24");
  const CliResult one = RunCli("($SY " + args + " 2>/dev/null)");
  ASSERT_EQ(one.status, 0) << one.output;
  const CliResult two = RunCli("($SY launch -n 2 --timeout 60 -- " + args + " --comm " +
                               GetParam() + " 2>/dev/null)");
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_EQ(two.output, one.output);  // rank 0 prints the text; the others lend their experts
}

INSTANTIATE_TEST_SUITE_P(CpuBackends, ExpertParallelTest,
                         ::testing::Values("comm.pcie", "comm.ucx"),
                         [](const auto& info) { return info.param.substr(5); });

TEST(ExpertParallelErrorsTest, CommandsWithoutExpertParallelismRefuseLaunch) {
  const CliResult r = RunSwitchyard("launch -n 2 --timeout 30 -- serve --port 0 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("this command does not run expert-parallel"));
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
}

}  // namespace
}  // namespace sy
