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
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/support/scratch_dir.h"

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

// A switchyard child process (a server) with its output collected.
class Process {
 public:
  explicit Process(std::vector<std::string> args) {
    args.insert(args.begin(), SY_TEST_BINARY_DIR "/bin/switchyard");
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      setenv("SWITCHYARD_PLUGIN_PATH", "", 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
        std::lock_guard lock(mutex_);
        output_.append(buffer, static_cast<size_t>(n));
      }
      close(fd);
    });
    const std::regex serving(R"(serving \S+ on http://[^:]+:(\d+) )");
    for (auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
      std::smatch match;
      const std::string out = output();
      if (std::regex_search(out, match, serving)) {
        port_ = std::stoi(match[1]);
        return;
      }
      if (Exited()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Process() {
    if (!exited_ && pid_ > 0) {
      kill(pid_, SIGKILL);  // launch's ranks die with it (PR_SET_PDEATHSIG)
      waitpid(pid_, &status_, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  int port() const { return port_; }
  std::string output() const {
    std::lock_guard lock(mutex_);
    return output_;
  }
  void Signal(int signal) const { kill(pid_, signal); }
  bool Exited() {
    if (!exited_ && waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  // The exit status, or -1 when it did not exit within `timeout` or was killed by a signal.
  int WaitForExit(std::chrono::seconds timeout) {
    for (auto deadline = Clock::now() + timeout; !Exited() && Clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exited_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

  // A greedy completion of `prompt`: its text, or the HTTP failure.
  std::string Complete(const std::string& prompt) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120);
    const json body = {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}};
    httplib::Result res = client.Post("/v1/completions", body.dump(), "application/json");
    if (!res) return "no answer: " + httplib::to_string(res.error());
    if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
    return json::parse(res->body)["choices"][0]["text"].get<std::string>();
  }
  std::string Get(const std::string& path) const {
    httplib::Client client("127.0.0.1", port_);
    httplib::Result res = client.Get(path);
    return res && res->status == 200 ? res->body : "";
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = 0;
  bool exited_ = false;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string output_;
};

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
std::vector<std::string> CompleteConcurrently(const Process& server) {
  std::vector<std::future<std::string>> pending;
  for (const std::string& prompt : kPrompts) {
    pending.push_back(std::async(std::launch::async, [&] { return server.Complete(prompt); }));
  }
  std::vector<std::string> texts;
  for (auto& p : pending) texts.push_back(p.get());
  return texts;
}

TEST(ExpertParallelServeTest, TwoRanksAnswerAsOneSurviveIdlenessAndExitZero) {
  std::vector<std::string> expected;
  {
    Process one(ServeArgs());
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
    Process two(LaunchTwo({"--comm", comm}));
    ASSERT_GT(two.port(), 0) << two.output();
    EXPECT_EQ(CompleteConcurrently(two), expected) << two.output();
    // Idle for longer than the comm timeout: rank 1 must still be waiting for rank 0, not failed.
    std::this_thread::sleep_for(std::chrono::seconds(2 * kTimeoutSeconds + 1));
    EXPECT_FALSE(two.Exited()) << two.output();
    EXPECT_EQ(two.Complete(kPrompts[1]), expected[1]) << two.output();
    const std::string metrics = two.Get("/metrics");
    EXPECT_THAT(metrics, HasSubstr("switchyard_generation_tokens_total"));

    two.Signal(SIGTERM);  // launch forwards it to every rank; rank 0 drains and releases rank 1
    EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
    EXPECT_THAT(two.output(), HasSubstr("[rank 1] rank 1 (pid"));
    EXPECT_THAT(two.output(), Not(HasSubstr("switchyard launch: rank"))) << two.output();
  }
}

TEST(ExpertParallelServeTest, OnlineRebalancingPublishesItsMetrics) {
  Process two(
      LaunchTwo({"--comm", "comm.pcie", "--rebalance-interval", "2", "--rebalance-window", "2"}));
  ASSERT_GT(two.port(), 0) << two.output();
  for (const std::string& text : CompleteConcurrently(two)) {
    EXPECT_THAT(text, Not(HasSubstr("HTTP "))) << text;
  }
  const std::string metrics = two.Get("/metrics");
  EXPECT_THAT(metrics, HasSubstr("switchyard_ep_rebalances_total"));
  EXPECT_THAT(metrics, HasSubstr("switchyard_ep_rank_imbalance"));
  two.Signal(SIGTERM);
  EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
}

TEST(ExpertParallelServeTest, AKilledRankMakesRankZeroFailClearly) {
  Process two(LaunchTwo({"--comm", "comm.pcie"}));
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
