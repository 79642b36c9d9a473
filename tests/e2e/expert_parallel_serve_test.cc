// `switchyard launch -n 2 -- serve` end to end: rank 0 serves HTTP, rank 1 lends it its experts
// over comm.pcie or comm.ucx. Greedy completions must equal one process's, the server must outlive
// an idle spell longer than the comm timeout, SIGTERM must end every rank with 0, and a killed rank
// 1 must make rank 0 fail clearly instead of hanging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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
#include "tests/support/serving_process.h"

namespace {

using nlohmann::json;
using ::testing::ContainsRegex;
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

using sy::testing_support::GreedyCompletion;
using sy::testing_support::RankOnePid;
using sy::testing_support::ServingProcess;

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
    pending.push_back(
        std::async(std::launch::async, [&] { return GreedyCompletion(server, prompt); }));
  }
  std::vector<std::string> texts;
  for (auto& p : pending) texts.push_back(p.get());
  return texts;
}

// One process's server's answers to kPrompts (computed once).
const std::vector<std::string>& OneProcessAnswers() {
  static const std::vector<std::string> answers = [] {
    ServingProcess one(ServeArgs());
    EXPECT_GT(one.port(), 0) << one.output();
    std::vector<std::string> texts = CompleteConcurrently(one);
    one.Signal(SIGTERM);
    EXPECT_EQ(one.WaitForExit(std::chrono::seconds(30)), 0) << one.output();
    return texts;
  }();
  return answers;
}

TEST(ExpertParallelServeTest, TwoRanksAnswerAsOneSurviveIdlenessAndExitZero) {
  const std::vector<std::string>& expected = OneProcessAnswers();
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
    EXPECT_EQ(GreedyCompletion(two, kPrompts[1]), expected[1]) << two.output();
    const std::string metrics = Get(two, "/metrics");
    EXPECT_THAT(metrics, HasSubstr("switchyard_generation_tokens_total"));
    // The CPU path exchanges through the backend's all-to-all only.
    EXPECT_THAT(metrics, HasSubstr("switchyard_ep_steps_total{exchange=\"direct\"} 0\n"));
    EXPECT_THAT(metrics, ContainsRegex("switchyard_ep_steps_total\\{exchange=\"collective\"\\} "
                                       "[1-9][0-9]*\n"));

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
  const pid_t rank1 = RankOnePid(two);
  ASSERT_GT(rank1, 0) << two.output();
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  // Rank 0 notices while idle (its keep-alive fails), says which rank, and exits; launch passes
  // the failure on. Well within the timeout plus launch's grace.
  EXPECT_NE(two.WaitForExit(std::chrono::seconds(kTimeoutSeconds + 15)), 0) << two.output();
  EXPECT_TRUE(two.Exited()) << two.output();
  const std::string out = two.output();
  EXPECT_THAT(out, HasSubstr("[rank 0] switchyard serve: the expert-parallel group failed"));
  EXPECT_THAT(out, HasSubstr("rank 1 (pid " + std::to_string(rank1) + ")")) << out;
}

// A completion too long to end on its own while the test runs (the model's context is 4096).
json LongCompletion(bool stream) {
  return {{"prompt", "def parse("},
          {"max_tokens", 4000},
          {"ignore_eos", true},
          {"temperature", 0},
          {"stream", stream}};
}

// A streamed request read on its own thread: the bytes so far, and whether any arrived.
class StreamReader {
 public:
  StreamReader(const ServingProcess& server, const json& body)
      : thread_([this, &server, body] { Read(server, body); }) {}
  ~StreamReader() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  bool started() const { return started_; }
  int status() const { return status_; }
  std::string bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }

 private:
  void Read(const ServingProcess& server, const json& body) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [this](const httplib::Response& res) {
      status_ = res.status;
      return true;
    };
    req.content_receiver = [this](const char* data, size_t size, uint64_t, uint64_t) {
      std::lock_guard lock(mutex_);
      bytes_.append(data, size);
      // The first event with text: the request is past its prefill, decoding across the ranks.
      if (bytes_.find("\"text\":\"") != std::string::npos) started_ = true;
      return true;
    };
    httplib::Response res;
    httplib::Error error;
    server.Client(120).send(req, res, error);
  }

  std::atomic<bool> started_{false};
  std::atomic<int> status_{0};
  mutable std::mutex mutex_;
  std::string bytes_;
  std::thread thread_;
};

// The value of an unlabelled gauge in /metrics text, or -1.
double Gauge(const std::string& metrics, const std::string& name) {
  std::smatch match;
  const std::regex line("\n" + name + R"( (\S+))");
  return std::regex_search(metrics, match, line) ? std::stod(match[1]) : -1;
}

// Rank 1 dies while a streamed and a non-streamed completion are decoding on the group: each
// client gets an error naming the group's failure and the dead rank (the stream as an SSE error
// event then [DONE], never a silently cut stream), promptly, and launch exits non-zero naming it.
TEST(ExpertParallelServeTest, ARankKilledMidRequestFailsTheRequestsInFlightClearly) {
  for (const std::string comm : {"comm.pcie", "comm.ucx"}) {
    SCOPED_TRACE(comm);
    ServingProcess two(LaunchTwo({"--comm", comm}));
    ASSERT_GT(two.port(), 0) << two.output();
    const pid_t rank1 = RankOnePid(two);
    ASSERT_GT(rank1, 0) << two.output();
    auto whole = std::async(std::launch::async, [&two] {
      return two.Client(120).Post("/v1/completions", LongCompletion(false).dump(),
                                  "application/json");
    });
    StreamReader streamed(two, LongCompletion(true));
    // Both requests run (not queued) and the stream has its first text when the rank dies.
    double running = 0;
    for (auto deadline = Clock::now() + std::chrono::seconds(60);
         !(streamed.started() && running == 2) && Clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      running = Gauge(Get(two, "/metrics"), "switchyard_requests_running");
    }
    ASSERT_TRUE(streamed.started()) << two.output();
    ASSERT_EQ(running, 2) << two.output();
    ASSERT_EQ(kill(rank1, SIGKILL), 0);
    const auto killed = Clock::now();

    // Both answers arrive promptly: the comm backend sees the dead rank within milliseconds.
    ASSERT_EQ(whole.wait_for(std::chrono::seconds(15)), std::future_status::ready);
    streamed.Join();
    EXPECT_LT(Clock::now() - killed, std::chrono::seconds(15));
    const std::string rank_named =
        comm == "comm.pcie" ? "rank 1 (pid " + std::to_string(rank1) + ")" : std::string("rank 1");
    httplib::Result res = whole.get();
    ASSERT_TRUE(res) << httplib::to_string(res.error()) << two.output();
    EXPECT_GE(res->status, 500) << res->body;
    const json error = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(error.contains("error")) << res->body;
    const std::string message = error["error"]["message"].get<std::string>();
    EXPECT_THAT(message, HasSubstr("the expert-parallel group failed: "));
    EXPECT_THAT(message, HasSubstr(rank_named));

    EXPECT_EQ(streamed.status(), 200);
    const std::string bytes = streamed.bytes();
    EXPECT_THAT(bytes,
                HasSubstr("data: {\"error\":{\"message\":\"the expert-parallel group failed: "));
    EXPECT_THAT(bytes, HasSubstr(rank_named));
    EXPECT_THAT(bytes, Not(HasSubstr("\"finish_reason\":\"length\"")));
    EXPECT_THAT(bytes, ::testing::EndsWith("data: [DONE]\n\n"));

    // Rank 0 exits on its own; launch reports rank 1 and exits with its status (128 + 9).
    EXPECT_EQ(two.WaitForExit(std::chrono::seconds(kTimeoutSeconds + 15)), 128 + SIGKILL);
    const std::string out = two.output();
    EXPECT_THAT(out, HasSubstr("switchyard launch: rank 1 (pid " + std::to_string(rank1) +
                               ") was killed by signal 9"));
    EXPECT_THAT(out, HasSubstr("[rank 0] switchyard serve: the expert-parallel group failed: "));
  }
}

// A group timeout too short for an idle server's keep-alive (a quarter of it, at least 25 ms) is
// refused by every rank before loading, naming both figures; a short one that is long enough
// (0.5 s: keep-alives every 125 ms) keeps an idle server alive well past it.
TEST(ExpertParallelServeTest, TheKeepAliveFollowsTheTimeoutAndTooShortATimeoutIsRefused) {
  std::vector<std::string> refused = {"launch", "-n", "2", "--timeout", "0.05", "--"};
  for (const std::string& a : ServeArgs({"--comm", "comm.pcie"})) refused.push_back(a);
  ServingProcess tiny(refused);
  EXPECT_EQ(tiny.port(), 0);
  EXPECT_EQ(tiny.WaitForExit(std::chrono::seconds(30)), 1) << tiny.output();
  const std::string out = tiny.output();
  for (const std::string rank : {"[rank 0] ", "[rank 1] "}) {
    EXPECT_THAT(out, HasSubstr(rank + "switchyard serve: the expert-parallel timeout of 50 ms "
                                      "(launch --timeout, SWITCHYARD_TIMEOUT) is too short to "
                                      "serve: an idle engine would have to tell the other ranks "
                                      "it is alive every 12.5 ms"))
        << out;
  }
  EXPECT_THAT(out, HasSubstr("use a timeout of at least 100 ms"));
  EXPECT_THAT(out, Not(HasSubstr("loaded"))) << out;

  std::vector<std::string> shortish = {"launch", "-n", "2", "--timeout", "0.5", "--"};
  // A small KV cache: rank 0 starts serving soon after rank 1 starts waiting for it.
  for (const std::string& a : ServeArgs({"--comm", "comm.pcie", "--kv-blocks", "64"})) {
    shortish.push_back(a);
  }
  ServingProcess two(shortish);
  ASSERT_GT(two.port(), 0) << two.output();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_FALSE(two.Exited()) << two.output();
  EXPECT_EQ(GreedyCompletion(two, kPrompts[0]), OneProcessAnswers()[0]) << two.output();
  two.Signal(SIGTERM);
  EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
}

// The Lua pipeline (scripts/pipelines/serve.lua: sy.load_model, sy.engine, sy.serve) under
// launch: the model joins the group with the comm the script names, rank 0 serves and rank 1
// lends its experts, with the answers of one process's `switchyard serve`; SIGTERM drains, and
// sy.serve returns on every rank.
TEST(ExpertParallelServeTest, ALuaPipelineServesExpertParallelUnderLaunch) {
  const std::vector<std::string>& expected = OneProcessAnswers();
  ServingProcess two({"launch", "-n", "2", "--timeout", std::to_string(kTimeoutSeconds), "--",
                      "run", SY_TEST_SOURCE_DIR "/scripts/pipelines/serve.lua", "0", "", Model(),
                      "comm.pcie"});
  ASSERT_GT(two.port(), 0) << two.output();
  EXPECT_GT(RankOnePid(two), 0) << two.output();
  EXPECT_EQ(CompleteConcurrently(two), expected) << two.output();
  std::this_thread::sleep_for(std::chrono::seconds(2 * kTimeoutSeconds + 1));
  EXPECT_FALSE(two.Exited()) << two.output();
  EXPECT_EQ(GreedyCompletion(two, kPrompts[2]), expected[2]) << two.output();
  two.Signal(SIGTERM);
  EXPECT_EQ(two.WaitForExit(std::chrono::seconds(30)), 0) << two.output();
  const std::string out = two.output();
  EXPECT_THAT(out, HasSubstr("[rank 0] drained; 0 preemptions in all"));
  EXPECT_THAT(out, HasSubstr("[rank 1] drained; 0 preemptions in all"));
  // Exactly one server: rank 1 never printed a serving line of its own.
  EXPECT_THAT(out, Not(HasSubstr("[rank 1] serving"))) << out;
}

}  // namespace
