// Expert parallelism with the model on the GPU: `switchyard launch -n 2` ranks of `perplexity`
// and `generate --device cuda`, each rank holding only its placement slots' experts, exchanging
// rows through a real comm plugin, must give what one GPU gives. With one GPU both ranks share
// it (still two processes and a real exchange); with more, each rank takes its local rank's.
// Skipped without a GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/cli_runner.h"
#include "tests/support/expert_parallel_fixture.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/serving_process.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::CliResult;
using testing_support::ExpectRebalancedForTheBetter;
using testing_support::GreedyCompletion;
using testing_support::PerplexityOf;
using testing_support::RankOnePid;
using testing_support::RunCli;
using testing_support::RunSwitchyard;
using testing_support::ServingProcess;

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

// `perplexity` on the GPU of `model` over the seeded text: the score every test compares.
std::string PerplexityArgs(const std::string& model) {
  return absl::StrCat("perplexity --device cuda --model ", model, " --text ", Files().text,
                      " --window 32");
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
  const std::string args = PerplexityArgs(Files().model);
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

// Online EPLB on the GPU: the seeded model's skewed router makes the balancer move experts, so
// ranks re-fill slots from the checkpoint mid-run; the experts that compute each token stay the
// same, so the score does too.
TEST_P(ExpertParallelCudaTest, OnlineRebalancingMovesExpertsAndChangesNothing) {
  const std::string args = PerplexityArgs(Files().model);
  const CliResult one = RunSwitchyard(args + " 2>&1");
  ASSERT_EQ(one.status, 0) << one.output;
  for (const std::string replicas : {"0", "2"}) {
    SCOPED_TRACE(replicas + " redundant experts");
    const CliResult two =
        RunSwitchyard(Launch() + args + Comm() + " --redundant-experts " + replicas +
                      " --rebalance-interval 2 --rebalance-window 4 2>&1");
    ASSERT_EQ(two.status, 0) << two.output;
    EXPECT_NEAR(PerplexityOf(two.output) / PerplexityOf(one.output), 1.0, 1e-3) << two.output;
    ExpectRebalancedForTheBetter(two.output);
  }
}

// Random weights re-filled mid-run are drawn again from their seeds: the text stays one GPU's.
TEST_P(ExpertParallelCudaTest, RandomWeightsRebalanceToTheSameModel) {
  const std::string args =
      "--weights random --model mixtral-8x7b --layers 2 --prompt 'hello' --max-tokens 16";
  const testing_support::ScopedScratchDir scratch;
  const std::string log = scratch.File("stderr.log");
  const CliResult two = RunCli("($SY " + Launch() + "generate --device cuda " + args + Comm() +
                               " --rebalance-interval 2 --rebalance-window 2 2>" + log + ")");
  ASSERT_EQ(two.status, 0) << two.output << RunCli("cat " + log).output;
  EXPECT_EQ(two.output, Generate("", args));
  ExpectRebalancedForTheBetter(RunCli("cat " + log).output);
}

INSTANTIATE_TEST_SUITE_P(GpuBackends, ExpertParallelCudaTest,
                         ::testing::Values("comm.pcie", "comm.nvlink", "comm.nccl"),
                         [](const auto& info) { return info.param.substr(5); });

// comm.nvlink offers peer memory, so its steps take the direct exchange (kernels write each
// layer's rows straight into the other rank's memory; the routing never leaves the device). It
// prints the text one GPU prints, as does the collective path it replaces
// (SWITCHYARD_EP_DIRECT=0), with and without redundant replicas (the device picks a token's
// replica as the host does). Its decode steps replay CUDA graphs, as on one GPU.
TEST(ExpertParallelCudaDirectTest, DirectAndCollectiveExchangesPrintOneGpusText) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const std::string args =
      absl::StrCat("--model ", Files().model, " --prompt 'The list type' --max-tokens 24");
  const std::string one = Generate("", args);
  const std::string launch = "launch -n 2 --timeout 120 -- ";
  for (const std::string extra : {"", " --redundant-experts 2"}) {
    SCOPED_TRACE(extra);
    const testing_support::ScopedScratchDir scratch;
    const std::string log = scratch.File("stderr.log");
    const CliResult direct =
        RunCli("(SWITCHYARD_LOG=debug $SY " + launch + "generate --device cuda " + args +
               " --comm comm.nvlink" + extra + " 2>" + log + ")");
    const std::string stderr_text = RunCli("cat " + log).output;
    ASSERT_EQ(direct.status, 0) << direct.output << stderr_text;
    EXPECT_THAT(stderr_text, HasSubstr("MoE layers exchange directly"));
    EXPECT_THAT(stderr_text, HasSubstr("as a CUDA graph (expert parallelism, direct exchange)"));
    EXPECT_EQ(direct.output, one);
    const CliResult collective =
        RunCli("(SWITCHYARD_EP_DIRECT=0 $SY " + launch + "generate --device cuda " + args +
               " --comm comm.nvlink" + extra + " 2>/dev/null)");
    ASSERT_EQ(collective.status, 0) << collective.output;
    EXPECT_EQ(collective.output, one);
  }
}

// --dispatch-dtype fp8: each row travels as e4m3 with a scale per 128 values (the host's
// encoding, bit for bit) and is decoded to bf16 for the experts, through the direct exchange and
// through the collective path (SWITCHYARD_EP_DIRECT=0; comm.pcie has no peer memory). The score
// moves by the fp8 rounding only: the CPU ranks measured 502.811 -> 502.813 on this model; a
// dispatch that lost the scales moved it by 4%, one that scrambled rows by far more. Then
// generate: graphed decode steps print what eager ones print.
TEST(ExpertParallelCudaDirectTest, Fp8DispatchScoresCloseToOneGpuThroughEitherExchange) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const std::string args = PerplexityArgs(Files().model);
  const CliResult one = RunSwitchyard(args + " 2>&1");
  ASSERT_EQ(one.status, 0) << one.output;
  const std::string launch = "launch -n 2 --timeout 120 -- ";
  for (const std::string way : {"", "SWITCHYARD_EP_DIRECT=0 "}) {
    for (const std::string comm : {"comm.nvlink", "comm.pcie"}) {
      SCOPED_TRACE(way + comm);
      const CliResult two = RunCli("(SWITCHYARD_LOG=debug " + way + "$SY " + launch + args +
                                   " --comm " + comm + " --dispatch-dtype fp8 2>&1)");
      ASSERT_EQ(two.status, 0) << two.output;
      const bool direct = way.empty() && comm == "comm.nvlink";
      EXPECT_THAT(two.output, HasSubstr(direct ? "exchange directly" : "all-to-all"));
      EXPECT_THAT(two.output, HasSubstr("rows as fp8"));
      EXPECT_NEAR(PerplexityOf(two.output) / PerplexityOf(one.output), 1.0, 2e-3) << two.output;
    }
  }
  // Decode steps on the direct exchange replay CUDA graphs, fp8 rows included: the same text as
  // every step run eagerly.
  const std::string gen = absl::StrCat("--model ", Files().model,
                                       " --prompt 'The list type' --max-tokens 24 --comm "
                                       "comm.nvlink --dispatch-dtype fp8");
  const std::string graphed = Generate(launch, gen);
  setenv("SWITCHYARD_CUDA_GRAPHS", "0", 1);
  const std::string eager = Generate(launch, gen);
  unsetenv("SWITCHYARD_CUDA_GRAPHS");
  EXPECT_FALSE(graphed.empty());
  EXPECT_EQ(graphed, eager);
}

// Serving under launch on the GPU: rank 0's engine batches requests of every length, so each
// step lays the direct exchange out anew. Each prompt alone gets one GPU's answer, through the
// direct exchange and through the collective path; all prompts at once are all answered.
TEST(ExpertParallelCudaServeTest, TwoRanksServeOneGpusAnswersThroughEitherExchange) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<std::string> prompts = {"def parse(", "The list type", "import os\n",
                                            std::string(400, 'x')};
  const std::vector<std::string> serve = {"serve",       "--device", "cuda", "--model",
                                          Files().model, "--port",   "0",    "--skip-plan-check"};
  std::vector<std::string> expected;
  {
    ServingProcess one(serve);
    ASSERT_GT(one.port(), 0) << one.output();
    for (const std::string& prompt : prompts) expected.push_back(GreedyCompletion(one, prompt));
    one.Signal(SIGTERM);
    EXPECT_EQ(one.WaitForExit(std::chrono::seconds(30)), 0) << one.output();
  }
  for (const std::string& text : expected) ASSERT_THAT(text, Not(HasSubstr("HTTP "))) << text;
  std::vector<std::string> launch = {"launch", "-n", "2", "--timeout", "120", "--"};
  launch.insert(launch.end(), serve.begin(), serve.end());
  launch.insert(launch.end(), {"--comm", "comm.nvlink"});
  for (const char* direct : {"1", "0"}) {
    SCOPED_TRACE(absl::StrCat("SWITCHYARD_EP_DIRECT=", direct));
    setenv("SWITCHYARD_EP_DIRECT", direct, 1);
    ServingProcess two(launch);
    unsetenv("SWITCHYARD_EP_DIRECT");
    ASSERT_GT(two.port(), 0) << two.output();
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(GreedyCompletion(two, prompts[i]), expected[i]) << two.output();
    }
    std::vector<std::future<std::string>> pending;
    for (const std::string& prompt : prompts) {
      pending.push_back(
          std::async(std::launch::async, [&two, prompt] { return GreedyCompletion(two, prompt); }));
    }
    for (auto& answer : pending) EXPECT_THAT(answer.get(), Not(HasSubstr("HTTP "))) << two.output();
    httplib::Result metrics = two.Client().Get("/metrics");
    ASSERT_TRUE(metrics) << two.output();
    const std::string idle = std::string("switchyard_ep_steps_total{exchange=\"") +
                             (direct == std::string("1") ? "collective" : "direct") + "\"} 0\n";
    EXPECT_THAT(metrics->body, HasSubstr(idle)) << metrics->body;
    two.Signal(SIGTERM);
    EXPECT_EQ(two.WaitForExit(std::chrono::seconds(60)), 0) << two.output();
  }
}

// A rank killed while a request runs through the direct exchange: rank 0's wait gives up after
// the group timeout, the request fails naming the rank, and rank 0 exits instead of hanging.
TEST(ExpertParallelCudaServeTest, ARankKilledMidRequestFailsItNamingTheRank) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  ServingProcess two({"launch",
                      "-n",
                      "2",
                      "--timeout",
                      "5",
                      "--",
                      "serve",
                      "--device",
                      "cuda",
                      "--weights",
                      "random",
                      "--model",
                      "mixtral-8x7b",
                      "--layers",
                      "2",
                      "--comm",
                      "comm.nvlink",
                      "--port",
                      "0",
                      "--skip-plan-check"});
  ASSERT_GT(two.port(), 0) << two.output();
  const pid_t rank1 = RankOnePid(two);
  ASSERT_GT(rank1, 0) << two.output();
  auto answer = std::async(std::launch::async, [&two] {
    const nlohmann::json body = {
        {"prompt", "hello"}, {"max_tokens", 4000}, {"ignore_eos", true}, {"temperature", 0}};
    return two.Client(60).Post("/v1/completions", body.dump(), "application/json");
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // decoding by now
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  const httplib::Result res = answer.get();
  ASSERT_TRUE(res) << two.output();
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_THAT(res->body, HasSubstr("rank 1 did not answer within 5s")) << res->body;
  EXPECT_NE(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
  EXPECT_THAT(two.output(),
              HasSubstr("[rank 0] switchyard serve: the expert-parallel group failed"))
      << two.output();
}

// The other expert layouts under launch on the GPU, each with online rebalancing where it is
// built: gpt-oss's fused experts with biases (bf16 and MXFP4, each rank keeping its slots' rows
// of them), and DeepSeek-V3's fp8 block-128 experts (re-filled as fp8 with their scales); then
// each through the direct exchange.
TEST(ExpertParallelCudaLayoutsTest, EachLayoutShardsLikeOneGpu) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const testing_support::ScopedScratchDir scratch;
  struct Case {
    std::string name, make, ep;
  };
  const Case cases[] = {
      {"gpt-oss", "--arch gpt_oss --dtype bf16", ""},
      {"gpt-oss-mxfp4", "--arch gpt_oss --mxfp4", ""},
      {"deepseek-v3-fp8", "--arch deepseek_v3 --hidden 128 --intermediate 128 --dtype bf16 --fp8",
       " --rebalance-interval 2 --rebalance-window 4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string model = scratch.File(c.name);
    const CliResult made =
        RunSwitchyard("make-model " + c.make + " --seed 7 --out " + model + " 2>&1");
    ASSERT_EQ(made.status, 0) << made.output;
    const std::string args = PerplexityArgs(model);
    const CliResult one = RunSwitchyard(args + " 2>&1");
    ASSERT_EQ(one.status, 0) << one.output;
    const CliResult two = RunSwitchyard("launch -n 2 --timeout 120 -- " + args +
                                        " --comm comm.pcie" + c.ep + " 2>&1");
    ASSERT_EQ(two.status, 0) << two.output;
    EXPECT_NEAR(PerplexityOf(two.output) / PerplexityOf(one.output), 1.0, 1e-3) << two.output;
    if (!c.ep.empty()) ExpectRebalancedForTheBetter(two.output);
    // The same layout through the direct exchange (comm.nvlink's peer memory).
    const CliResult direct =
        RunSwitchyard("launch -n 2 --timeout 120 -- " + args + " --comm comm.nvlink 2>&1");
    ASSERT_EQ(direct.status, 0) << direct.output;
    EXPECT_NEAR(PerplexityOf(direct.output) / PerplexityOf(one.output), 1.0, 1e-3) << direct.output;
  }
}

TEST(ExpertParallelCudaErrorsTest, WhatTheGpuPathDoesNotTakeIsRefusedByName) {
  if (Gpus() == 0) GTEST_SKIP() << "no GPU";
  const std::string run = "launch -n 2 --timeout 60 -- perplexity --device cuda --model " +
                          Files().model + " --text " + Files().text + " --comm comm.pcie ";
  const CliResult r = RunSwitchyard(run + "--dispatch-dtype f32 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--dispatch-dtype f32 with the model on the GPU: its experts "
                                  "read bf16"));
  const testing_support::ScopedScratchDir scratch;
  const std::string gpt_oss = scratch.File("gpt-oss");
  ASSERT_EQ(RunSwitchyard("make-model --arch gpt_oss --out " + gpt_oss + " >/dev/null").status, 0);
  const CliResult moving =
      RunSwitchyard("launch -n 2 --timeout 60 -- perplexity --device cuda --model " + gpt_oss +
                    " --text " + Files().text + " --comm comm.pcie --rebalance-interval 2 2>&1");
  EXPECT_NE(moving.status, 0);
  EXPECT_THAT(moving.output, HasSubstr("online rebalancing (--rebalance-interval) of gpt-oss on "
                                       "the GPU"));
}

}  // namespace
}  // namespace sy
