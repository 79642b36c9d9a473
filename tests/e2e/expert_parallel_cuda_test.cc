// Expert parallelism with the model on the GPU: `switchyard launch -n 2` ranks of `perplexity`
// and `generate --device cuda`, each rank holding only its placement slots' experts, exchanging
// rows through a real comm plugin, must give what one GPU gives. With one GPU both ranks share
// it (still two processes and a real exchange); with more, each rank takes its local rank's.
// Skipped without a GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/cli_runner.h"
#include "tests/support/expert_parallel_fixture.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using testing_support::CliResult;
using testing_support::PerplexityOf;
using testing_support::RunCli;
using testing_support::RunSwitchyard;

int Gpus() {
  static const int gpus = [] {
    const CliResult r = RunCli("nvidia-smi -L 2>/dev/null | grep -c GPU");
    return r.status == 0 ? std::stoi(r.output) : 0;
  }();
  return gpus;
}

const testing_support::ExpertParallelFiles& Files() {
  return testing_support::SeededQwen2MoeAndText();
}

// The generated text alone (stdout: timings and rank tags go to stderr, shown on failure).
std::string Generate(const std::string& launch, const std::string& args) {
  const testing_support::ScopedScratchDir scratch;
  const std::string log = scratch.File("stderr.log");
  const CliResult r =
      RunCli("($SY " + launch + "generate --device cuda " + args + " 2>" + log + ")");
  EXPECT_EQ(r.status, 0) << r.output << RunCli("cat " + log).output;
  return r.output;
}

class ExpertParallelCudaTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (Gpus() == 0) GTEST_SKIP() << "no GPU";
    if (GetParam() == "comm.nccl" && Gpus() < 2) GTEST_SKIP() << "NCCL needs a GPU per rank";
  }
  std::string Launch() const { return "launch -n 2 --timeout 120 -- "; }
  std::string Comm() const { return " --comm " + GetParam(); }
};

// Perplexity sums the log-probabilities of every token: a wrong expert, a lost row or a
// scrambled weight moves it by far more than the bf16 rounding of a different summation order.
TEST_P(ExpertParallelCudaTest, TwoRanksScoreWhatOneGpuScores) {
  const std::string args = absl::StrCat("perplexity --device cuda --model ", Files().model,
                                        " --text ", Files().text, " --window 32");
  const CliResult one = RunSwitchyard(args + " 2>&1");
  ASSERT_EQ(one.status, 0) << one.output;
  for (const std::string extra : {"", " --redundant-experts 2"}) {
    SCOPED_TRACE(extra);
    const CliResult two = RunSwitchyard(Launch() + args + Comm() + extra + " 2>&1");
    ASSERT_EQ(two.status, 0) << two.output;
    EXPECT_NEAR(PerplexityOf(two.output) / PerplexityOf(one.output), 1.0, 1e-3) << two.output;
  }
}

// Rank 0 generates while rank 1 lends its experts (the idle passes of FinishSteps).
TEST_P(ExpertParallelCudaTest, GenerateUnderLaunchContinuesLikeOneGpu) {
  const std::string args =
      absl::StrCat("--model ", Files().model, " --prompt 'The list type' --max-tokens 24");
  EXPECT_EQ(Generate(Launch(), args + Comm()), Generate("", args));
}

// Random weights: each rank draws only its own experts, the very values one GPU draws for them.
TEST_P(ExpertParallelCudaTest, RandomWeightsShardToTheSameModel) {
  const std::string args =
      "--weights random --model mixtral-8x7b --layers 2 --prompt 'hello' --max-tokens 8";
  EXPECT_EQ(Generate(Launch(), args + Comm()), Generate("", args));
}

INSTANTIATE_TEST_SUITE_P(GpuBackends, ExpertParallelCudaTest,
                         ::testing::Values("comm.pcie", "comm.nvlink", "comm.nccl"),
                         [](const auto& info) { return info.param.substr(5); });

TEST(ExpertParallelCudaErrorsTest, WhatTheGpuPathDoesNotTakeIsRefusedByName) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const std::string run = "launch -n 2 --timeout 60 -- perplexity --device cuda --model " +
                          Files().model + " --text " + Files().text + " --comm comm.pcie ";
  CliResult r = RunSwitchyard(run + "--dispatch-dtype fp8 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--dispatch-dtype fp8 with the model on the GPU"));
  r = RunSwitchyard(run + "--rebalance-interval 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("online rebalancing (--rebalance-interval) with the model on "
                                  "the GPU"));
}

}  // namespace
}  // namespace sy
