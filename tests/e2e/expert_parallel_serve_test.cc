// `switchyard launch -n 2 -- serve` end to end: rank 0 serves HTTP, rank 1 lends it its experts
// over comm.pcie or comm.ucx. Greedy completions must equal one process's, the server must outlive
// an idle spell longer than the comm timeout, SIGTERM must end every rank with 0, and a killed rank
// 1 must make rank 0 fail clearly instead of hanging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/support/scratch_dir.h"
#include "tests/support/serving_process.h"

namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// The rank timeout the launched servers run with (launch --timeout, seconds).
constexpr int kTimeoutSeconds = 2;

// A small Qwen2-MoE (8 experts) made once.
const std::string& Model() {
  static const std::string model = [] {
    const std::string dir = sy::testing_support::ScratchDir() + "/qwen2";
    const std::string make = std::string(SY_TEST_BINARY_DIR "/bin/switchyard") +
                             " make-model --arch qwen2_moe --seed 7 --out " + dir + " >/dev/null";
    EXPECT_EQ(std::system(make.c_str()), 0);
    return dir;
  }();
  return model;
}

using sy::testing_support::ServingProcess;

// A greedy completion of `prompt`: its text, or the HTTP failure.
std::string Complete(const ServingProcess& server, const std::string& prompt) {
  const json body = {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}};
  httplib::Result res = server.Client(120).Post("/v1/completions", body.dump(), "application/json");
  if (!res) return "no answer: " + httplib::to_string(res.error());
  if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
  return json::parse(res->body)["choices"][0]["text"].get<std::string>();
}

std::string Get(const ServingProcess& server, const std::string& path) {
  httplib::Result res = server.Client().Get(path);
  return res && res->status == 200 ? res->body : "";
}

std::vector<std::string> ServeArgs(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"serve", "--model", Model(), "--port", "0", "--skip-plan-check"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> LaunchTwo(const std::vector<std::string>& serve_extra) {
  std::vector<std::string> args = {
      "launch", "-n", "2", "--timeout", std::to_string(kTimeoutSeconds), "--"};
  for (const std::string& a : ServeArgs(serve_extra)) args.push_back(a);
  return args;
}

const std::vector<std::string> kPrompts = {"def parse(", "The list type", "import os\n",
                                           "class Stack:"};

// Every prompt at once (so they share engine steps), answers in prompt order.
std::vector<std::string> CompleteConcurrently(const ServingProcess& server) {
  std::vector<std::future<std::string>> pending;
  for (const std::string& prompt : kPrompts) {
    pending.push_back(std::async(std::launch::async, [&] { return Complete(server, prompt); }));
  }
  std::vector<std::string> texts;
  for (auto& p : pending) texts.push_back(p.get());
  return texts;
}

TEST(ExpertParallelServeTest, TwoRanksAnswerAsOneSurviveIdlenessAndExitZero) {
  std::vector<std::string> expected;
  {
    ServingProcess one(ServeArgs());
    ASSERT_GT(one.port(), 0) << one.output();
    expected = CompleteConcurrently(one);
    one.Signal(SIGTERM);
    EXPECT_EQ(one.WaitForExit(std::chrono::seconds(30)), 0) << one.output();
  }
  for (const std::string& text : expected) {
    ASSERT_THAT(text, Not(HasSubstr("HTTP "))) << text;
    ASSERT_FALSE(text.empty());
  }

  for (const std::string comm : {"comm.pcie", "comm.ucx"}) {
    SCOPED_TRACE(comm);
    ServingProcess two(LaunchTwo({"--comm", comm}));
    ASSERT_GT(two.port(), 0) << two.output();
    EXPECT_EQ(CompleteConcurrently(two), expected) << two.output();
    // Idle for longer than the comm timeout: rank 1 must still be waiting for rank 0, not failed.
    std::this_thread::sleep_for(std::chrono::seconds(2 * kTimeoutSeconds + 1));
    EXPECT_FALSE(two.Exited()) << two.output();
    EXPECT_EQ(Complete(two, kPrompts[1]), expected[1]) << two.output();
    const std::string metrics = Get(two, "/metrics");
    EXPECT_THAT(metrics, HasSubstr("switchyard_generation_tokens_total"));

    two.Signal(SIGTERM);  // launch forwards it to every rank; rank 0 drains and releases rank 1
    EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
    EXPECT_THAT(two.output(), HasSubstr("[rank 1] rank 1 (pid"));
    EXPECT_THAT(two.output(), Not(HasSubstr("switchyard launch: rank"))) << two.output();
  }
}

TEST(ExpertParallelServeTest, OnlineRebalancingPublishesItsMetrics) {
  ServingProcess two(
      LaunchTwo({"--comm", "comm.pcie", "--rebalance-interval", "2", "--rebalance-window", "2"}));
  ASSERT_GT(two.port(), 0) << two.output();
  for (const std::string& text : CompleteConcurrently(two)) {
    EXPECT_THAT(text, Not(HasSubstr("HTTP "))) << text;
  }
  const std::string metrics = Get(two, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("switchyard_ep_rebalances_total"));
  EXPECT_THAT(metrics, HasSubstr("switchyard_ep_rank_imbalance"));
  two.Signal(SIGTERM);
  EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
}

TEST(ExpertParallelServeTest, AKilledRankMakesRankZeroFailClearly) {
  ServingProcess two(LaunchTwo({"--comm", "comm.pcie"}));
  ASSERT_GT(two.port(), 0) << two.output();
  // Rank 1 says which process it is once it has loaded (maybe after rank 0's serving line).
  const std::regex lending(R"(rank 1 \(pid (\d+)\): lending)");
  std::smatch match;
  std::string started;
  for (auto deadline = Clock::now() + std::chrono::seconds(30);
       !std::regex_search(started = two.output(), match, lending) && Clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(match.empty()) << started;
  const pid_t rank1 = std::stoi(match[1]);
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  // Rank 0 notices while idle (its keep-alive fails), says which rank, and exits; launch passes
  // the failure on. Well within the timeout plus launch's grace.
  EXPECT_NE(two.WaitForExit(std::chrono::seconds(kTimeoutSeconds + 15)), 0) << two.output();
  EXPECT_TRUE(two.Exited()) << two.output();
  const std::string out = two.output();
  EXPECT_THAT(out, HasSubstr("[rank 0] switchyard serve: the expert-parallel group failed"));
  EXPECT_THAT(out, HasSubstr("rank 1 (pid " + std::to_string(rank1) + ")")) << out;
}

}  // namespace
