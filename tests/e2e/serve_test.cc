// End-to-end tests of `switchyard serve`: each test starts the real server on the built-in
// model (port 0: any free port, read back from its "serving … on http://HOST:PORT" line) and
// talks to it over real HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

using Clock = std::chrono::steady_clock;

// A `switchyard serve` child process on the built-in model (port 0 unless given).
class ServerProcess : public sy::testing_support::ServingProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& extra_args = {})
      : ServingProcess(ServeArgs(extra_args)) {}
  // Any switchyard command line that serves, e.g. {"run", "serve.lua", "0"}.
  struct Command {
    std::vector<std::string> args;
  };
  explicit ServerProcess(Command command) : ServingProcess(std::move(command.args)) {}

 private:
  static std::vector<std::string> ServeArgs(const std::vector<std::string>& extra_args) {
    std::vector<std::string> args = {"serve"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    if (std::find(args.begin(), args.end(), "--port") == args.end()) {
      args.insert(args.end(), {"--port", "0"});
    }
    return args;
  }
};

struct Posted {
  int status = 0;
  json body;
  std::string raw;
};

Posted Post(const ServerProcess& server, const std::string& path, const std::string& body) {
  httplib::Result res = server.Client().Post(path, body, "application/json");
  if (!res) return {0, json(), httplib::to_string(res.error())};
  return {res->status, json::parse(res->body, nullptr, false), res->body};
}

// A streamed response: the data payloads of its events, in order.
struct Streamed {
  int status = 0;
  std::vector<std::string> data;
  std::string text;  // the concatenated text deltas
};

Streamed PostStream(const ServerProcess& server, const std::string& path, const json& body) {
  Streamed out;
  std::string bytes;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&out](const httplib::Response& res) {
    out.status = res.status;
    EXPECT_EQ(res.get_header_value("Content-Type"), "text/event-stream");
    return true;
  };
  req.content_receiver = [&bytes](const char* data, size_t size, uint64_t, uint64_t) {
    bytes.append(data, size);
    return true;
  };
  httplib::Response res;
  httplib::Error error;
  EXPECT_TRUE(server.Client().send(req, res, error)) << httplib::to_string(error);
  for (size_t start = 0, end; (end = bytes.find("\n\n", start)) != std::string::npos;
       start = end + 2) {
    const std::string event = bytes.substr(start, end - start);
    if (event[0] == ':') continue;  // keep-alive comment
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    out.data.push_back(event.substr(6));
  }
  for (const std::string& d : out.data) {
    if (d == "[DONE]") continue;
    const json chunk = json::parse(d);
    for (const json& choice : chunk["choices"]) {
      if (choice.contains("text")) out.text += choice["text"].get<std::string>();
      if (choice.contains("delta") && choice["delta"].contains("content")) {
        out.text += choice["delta"]["content"].get<std::string>();
      }
    }
  }
  return out;
}

// The value of an unlabelled metric in a /metrics page, or -1.
double Metric(const ServerProcess& server, const std::string& name) {
  httplib::Result res = server.Client().Get("/metrics");
  if (!res) return -1;
  std::smatch match;
  const std::regex line("\n" + name + " ([0-9.e+-]+)");
  const std::string body = "\n" + res->body;
  return std::regex_search(body, match, line) ? std::stod(match[1]) : -1;
}

void ExpectApiError(const Posted& r, int status, const std::string& param,
                    const std::string& message_part) {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  const json& error = r.body["error"];
  EXPECT_EQ(error["type"], status == 429 ? "rate_limit_error" : "invalid_request_error") << r.raw;
  EXPECT_EQ(error["param"], param.empty() ? json(nullptr) : json(param)) << r.raw;
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr(message_part));
  EXPECT_TRUE(error.contains("code"));
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }

  static ServerProcess* server_;
};
ServerProcess* ServeTest::server_ = nullptr;

TEST_F(ServeTest, CompletionsAnswerWithUsage) {
  const Posted r = Post(*server_, "/v1/completions",
                        R"({"model": "pydoc-moe", "prompt": "def add(a, b):", "max_tokens": 8,
                            "temperature": 0})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "text_completion");
  EXPECT_THAT(r.body["id"].get<std::string>(), ::testing::StartsWith("cmpl-"));
  EXPECT_EQ(r.body["model"], "pydoc-moe");
  ASSERT_EQ(r.body["choices"].size(), 1u);
  const json& choice = r.body["choices"][0];
  EXPECT_TRUE(choice["text"].is_string());
  EXPECT_THAT(choice["finish_reason"], AnyOf(json("length"), json("stop")));
  const json& usage = r.body["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(usage["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(usage["total_tokens"],
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
}

TEST_F(ServeTest, SeveralPromptsAreSeveralChoicesInOrder) {
  const Posted r = Post(*server_, "/v1/completions",
                        R"({"prompt": ["import os", [1, 2, 3]], "max_tokens": 4,
                            "ignore_eos": true})");
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["choices"].size(), 2u);
  EXPECT_EQ(r.body["choices"][1]["index"], 1);
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 8);  // ignore_eos: exactly 4 each
}

TEST_F(ServeTest, ChatCompletionsAnswerAsTheAssistant) {
  const Posted r = Post(*server_, "/v1/chat/completions",
                        R"({"messages": [{"role": "system", "content": "You write Python."},
                                         {"role": "user", "content": "Add two numbers."}],
                            "max_completion_tokens": 16, "seed": 1})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "chat.completion");
  EXPECT_THAT(r.body["id"].get<std::string>(), ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(r.body["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(r.body["choices"][0]["message"]["content"].is_string());
  EXPECT_LE(r.body["usage"]["completion_tokens"].get<int>(), 16);
}

TEST_F(ServeTest, StreamingMatchesTheWholeAnswerAndEndsWithDone) {
  const json request = {{"prompt", "class Stack:"}, {"max_tokens", 24}, {"temperature", 0}};
  const Posted whole = Post(*server_, "/v1/completions", request.dump());
  ASSERT_EQ(whole.status, 200) << whole.raw;

  json streaming = request;
  streaming["stream"] = true;
  streaming["stream_options"] = {{"include_usage", true}};
  const Streamed s = PostStream(*server_, "/v1/completions", streaming);
  ASSERT_EQ(s.status, 200);
  ASSERT_GE(s.data.size(), 3u);
  EXPECT_EQ(s.data.back(), "[DONE]");
  EXPECT_EQ(s.text, whole.body["choices"][0]["text"]);  // greedy: the same tokens
  const json usage_chunk = json::parse(s.data[s.data.size() - 2]);
  EXPECT_EQ(usage_chunk["choices"], json::array());
  EXPECT_EQ(usage_chunk["usage"], whole.body["usage"]);
  const json finish = json::parse(s.data[s.data.size() - 3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], whole.body["choices"][0]["finish_reason"]);
  for (size_t i = 0; i + 1 < s.data.size(); ++i) {
    const json chunk = json::parse(s.data[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_EQ(chunk["id"], json::parse(s.data[0])["id"]);
  }
}

TEST_F(ServeTest, ChatStreamingSendsTheRoleFirst) {
  const Streamed s = PostStream(
      *server_, "/v1/chat/completions",
      {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 8}, {"stream", true}});
  ASSERT_EQ(s.status, 200);
  ASSERT_GE(s.data.size(), 3u);
  const json first = json::parse(s.data[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(s.data.back(), "[DONE]");
  const json last = json::parse(s.data[s.data.size() - 2]);
  EXPECT_THAT(last["choices"][0]["finish_reason"], AnyOf(json("length"), json("stop")));
}

TEST_F(ServeTest, ModelsHealthAndMetrics) {
  httplib::Client client = server_->Client();
  httplib::Result models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  const json list = json::parse(models->body);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "pydoc-moe");
  EXPECT_EQ(list["data"][0]["object"], "model");

  httplib::Result health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  ASSERT_EQ(Post(*server_, "/v1/completions", R"({"prompt": "x", "max_tokens": 2})").status, 200);
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  for (const char* name :
       {"switchyard_time_to_first_token_seconds_bucket", "switchyard_inter_token_latency_seconds",
        "switchyard_e2e_request_latency_seconds", "switchyard_requests_waiting",
        "switchyard_requests_running", "switchyard_kv_blocks_used", "switchyard_kv_blocks_total",
        "switchyard_generation_tokens_total", "switchyard_prompt_tokens_total",
        "switchyard_requests_finished_total", "switchyard_preemptions_total",
        "switchyard_expert_tokens_total{layer=", "switchyard_expert_imbalance{layer="}) {
    EXPECT_THAT(metrics->body, HasSubstr(name));
  }
}

TEST_F(ServeTest, BadRequestsGetOpenAiErrors) {
  ExpectApiError(Post(*server_, "/v1/completions", "{\"prompt\": "), 400, "", "not valid JSON");
  ExpectApiError(Post(*server_, "/v1/completions", "{\"prompt\": \"\xc3\x28\"}"), 400, "",
                 "not valid JSON (UTF-8)");
  const Posted unknown = Post(*server_, "/v1/completions", R"({"model": "gpt-4", "prompt": "x"})");
  ExpectApiError(unknown, 404, "model", "The model `gpt-4` does not exist.");
  EXPECT_EQ(unknown.body["error"]["code"], "model_not_found");
  ExpectApiError(Post(*server_, "/v1/completions", R"({"prompt": "x", "max_tokens": -1})"), 400,
                 "max_tokens", "at least 1");
  const Posted huge =
      Post(*server_, "/v1/completions", R"({"prompt": "x", "max_tokens": 1000000000000})");
  ExpectApiError(huge, 400, "max_tokens", "maximum context length is 1024 tokens");
  EXPECT_EQ(huge.body["error"]["code"], "context_length_exceeded");
  const json long_prompt = {{"prompt", std::vector<int>(1100, 42)}, {"max_tokens", 1}};
  ExpectApiError(Post(*server_, "/v1/completions", long_prompt.dump()), 400, "prompt",
                 "the prompt has 1100 tokens");
  ExpectApiError(Post(*server_, "/v1/completions", R"({"prompt": "x", "n": 2})"), 400, "n",
                 "'n' is not supported");
  ExpectApiError(Post(*server_, "/v1/completions", R"({"prompt": "x", "logprobs": 2})"), 400,
                 "logprobs", "not supported");
  ExpectApiError(Post(*server_, "/v1/completions", R"({"prompt": "x", "temperature": "hot"})"), 400,
                 "temperature", "must be a number");
  ExpectApiError(Post(*server_, "/v1/chat/completions", R"({"messages": [{"role": "tool"}]})"), 400,
                 "messages[0].role", "not supported");
  ExpectApiError(Post(*server_, "/v1/completions", R"({"prompt": [99999]})"), 400, "prompt[0]",
                 "outside the vocabulary");
}

TEST_F(ServeTest, HttpLevelErrorsAreJsonToo) {
  httplib::Client client = server_->Client();
  httplib::Result missing = client.Get("/v2/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["message"], "Invalid URL (GET /v2/nothing)");

  httplib::Result method = client.Get("/v1/completions");
  ASSERT_TRUE(method);
  EXPECT_EQ(method->status, 405);
  EXPECT_EQ(method->get_header_value("Allow"), "POST");
  EXPECT_THAT(json::parse(method->body)["error"]["message"].get<std::string>(),
              HasSubstr("Method GET is not allowed"));

  httplib::Result large =
      client.Post("/v1/completions", std::string(9 << 20, ' '), "application/json");
  ASSERT_TRUE(large);
  EXPECT_EQ(large->status, 413);
  EXPECT_EQ(json::parse(large->body)["error"]["code"], "request_too_large");
}

TEST_F(ServeTest, AClientThatLeavesMidStreamFreesItsKvBlocks) {
  std::atomic<int> chunks{0};
  double blocks_while_streaming = -1;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body =
      json{{"prompt", "def main():"}, {"max_tokens", 900}, {"ignore_eos", true}, {"stream", true}}
          .dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
    if (++chunks == 5) blocks_while_streaming = Metric(*server_, "switchyard_kv_blocks_used");
    return chunks < 5;  // false: httplib closes the connection
  };
  httplib::Response res;
  httplib::Error error;
  server_->Client().send(req, res, error);
  EXPECT_EQ(error, httplib::Error::Canceled);
  EXPECT_GT(blocks_while_streaming, 0);
  double blocks = -1;
  for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
    blocks = Metric(*server_, "switchyard_kv_blocks_used");
    if (blocks == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(blocks, 0) << "the abandoned request still holds KV blocks";
}

// DeepSeek-V3 (latent cache, fp8 weights) and gpt-oss (sinks, sliding window, MXFP4 experts)
// checkpoints from make-model serve completions like any other model, and chat completions in
// their family's chat format.
TEST(ServeArchitecturesTest, MadeDeepseekV3AndGptOssModelsServeCompletionsAndChat) {
  const std::string root = sy::testing_support::ScratchDir();
  for (const char* arch : {"deepseek_v3 --fp8", "gpt_oss --mxfp4"}) {
    SCOPED_TRACE(arch);
    const std::string dir = root + "/" + std::string(arch).substr(0, 7);
    const std::string make = std::string(SY_TEST_BINARY_DIR "/bin/switchyard make-model --arch ") +
                             arch + " --out " + dir + " > /dev/null";
    ASSERT_EQ(std::system(make.c_str()), 0);
    ServerProcess server({"--model", dir});
    ASSERT_GT(server.port(), 0) << server.output();
    const Posted r = Post(server, "/v1/completions",
                          R"({"prompt": "Hello there", "max_tokens": 6, "temperature": 0})");
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_TRUE(r.body["choices"][0]["text"].is_string());
    EXPECT_LE(r.body["usage"]["completion_tokens"].get<int>(), 6);
    const Posted chat = Post(server, "/v1/chat/completions",
                             R"({"messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Hello there"}],
                                 "max_tokens": 6, "temperature": 0})");
    ASSERT_EQ(chat.status, 200) << chat.raw;
    EXPECT_EQ(chat.body["choices"][0]["message"]["role"], "assistant");
    EXPECT_TRUE(chat.body["choices"][0]["message"]["content"].is_string());
  }
}

TEST(ServeQueueTest, AFullQueueAnswers429) {
  ServerProcess server({"--max-waiting", "1", "--kv-blocks", "8"});
  ASSERT_GT(server.port(), 0) << server.output();
  constexpr int kClients = 32;
  std::vector<Posted> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&server, &results, i] {
      results[i] = Post(server, "/v1/completions",
                        R"({"prompt": "x = 1", "max_tokens": 32, "ignore_eos": true})");
    });
  }
  for (std::thread& t : clients) t.join();
  int ok = 0, refused = 0;
  for (const Posted& r : results) {
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      ExpectApiError(r, 429, "", "");
    }
  }
  EXPECT_EQ(ok + refused, kClients) << [&results] {
    std::string statuses;
    for (const Posted& r : results) statuses += std::to_string(r.status) + " " + r.raw + "\n";
    return statuses;
  }();
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
}

TEST(ServeShutdownTest, SigtermDrainsTheStreamInFlightAndExitsZero) {
  ServerProcess server;
  ASSERT_GT(server.port(), 0) << server.output();
  std::atomic<bool> signalled{false};
  std::string bytes;
  int status = 0;
  std::thread stream([&] {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "import sys"},
                    {"max_tokens", 600},
                    {"ignore_eos", true},
                    {"stream", true},
                    {"stream_options", {{"include_usage", true}}}}
                   .dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [&status](const httplib::Response& res) {
      status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      bytes.append(data, size);
      if (!signalled.exchange(true)) server.Signal(SIGTERM);  // after the first chunk
      return true;
    };
    httplib::Response res;
    httplib::Error error;
    server.Client().send(req, res, error);
  });
  // While it drains: the health check fails and new requests are refused.
  while (!signalled) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int health = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(5); Clock::now() < deadline;) {
    httplib::Result res = server.Client().Get("/health");
    health = res ? res->status : 0;
    if (health == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(health, 503);
  const Posted refused = Post(server, "/v1/completions", R"({"prompt": "x"})");
  EXPECT_EQ(refused.status, 503) << refused.raw;
  stream.join();

  EXPECT_EQ(status, 200);
  EXPECT_THAT(bytes, HasSubstr("\"finish_reason\":\"length\""));
  EXPECT_THAT(bytes, HasSubstr("\"completion_tokens\":600"));
  EXPECT_THAT(bytes, ::testing::EndsWith("data: [DONE]\n\n"));
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(30)), 0) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("SIGTERM: draining"));
}

// The README's Lua pipeline: sy.load_model with a swapped router, sy.engine with an on_step
// hook, sy.serve; SIGTERM drains it and sy.serve returns to the script.
TEST(ServeLuaTest, APipelineWithASwappedRouterServesAndDrains) {
  ServerProcess server(ServerProcess::Command{
      {"run", SY_TEST_SOURCE_DIR "/scripts/pipelines/serve.lua", "0", "router.hash"}});
  ASSERT_GT(server.port(), 0) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("model pydoc-moe, router router.hash"));
  const Posted r = Post(server, "/v1/completions",
                        R"({"prompt": "The list type", "max_tokens": 8, "ignore_eos": true})");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 8);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(30)), 0) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("drained; 0 preemptions in all"));
}

// Mixtral-8x7B's published config.json alone, no weights: a folder serve plans but cannot load.
std::string Mixtral8x7bConfigOnly() {
  const std::string dir = sy::testing_support::ScratchDir() + "/Mixtral-8x7B";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << json{
      {"architectures", {"MixtralForCausalLM"}},
      {"model_type", "mixtral"},
      {"hidden_size", 4096},
      {"intermediate_size", 14336},
      {"max_position_embeddings", 32768},
      {"num_attention_heads", 32},
      {"num_experts_per_tok", 2},
      {"num_hidden_layers", 32},
      {"num_key_value_heads", 8},
      {"num_local_experts", 8},
      {"tie_word_embeddings", false},
      {"vocab_size", 32000}}.dump(2);
  return dir;
}

TEST(ServeMemoryPlanTest, AConfigurationThatCannotFitIsRefusedBeforeLoading) {
  // 46.7 B parameters in f32 on the CPU: 186.81 GB of weights against a 64 GB limit. The folder
  // has no weights, so only the plan can stop serve before it fails to open them.
  const auto start = Clock::now();
  ServerProcess server({"--model", Mixtral8x7bConfigOnly(), "--memory-limit", "64"});
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(60)), 1);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(server.port(), 0) << server.output();
  const std::string out = server.output();
  EXPECT_THAT(out, HasSubstr("switchyard serve: refusing to load Mixtral-8x7B: it does not fit"));
  EXPECT_THAT(out, HasSubstr("target    the --memory-limit (64.00 GB), the CPU model runtime; "
                             "weights f32, KV cache f32"));
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(weights: routed experts +180\.39 )"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(headroom +-125\.99 +DOES NOT FIT)"))) << out;
  EXPECT_THAT(out, HasSubstr("Mixtral-8x7B does not fit in the --memory-limit (64.00 GB): it "
                             "needs 189.99 GB = weights 186.81"));
  EXPECT_THAT(out, Not(HasSubstr("safetensors")));  // nothing was opened
}

TEST(ServeMemoryPlanTest, AQuantizerShrinksThePlannedExperts) {
  ServerProcess server({"--model", Mixtral8x7bConfigOnly(), "--memory-limit", "16", "--quantizer",
                        "quantizer.int4"});
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(60)), 1);
  EXPECT_THAT(server.output(), HasSubstr("weights int4 (experts; the rest f32)"));
  EXPECT_TRUE(std::regex_search(server.output(), std::regex(R"(weights: routed experts +24\.31 )")))
      << server.output();
}

TEST(ServeMemoryPlanTest, AConfigurationThatFitsLogsItsHeadroomAndServes) {
  ServerProcess server;
  ASSERT_GT(server.port(), 0) << server.output();
  EXPECT_TRUE(std::regex_search(
      server.output(), std::regex(R"(plan: [0-9.]+ GB of [0-9.]+ GB \(this host's memory\): )"
                                  R"(weights [0-9.]+, KV cache 0\.27; headroom [0-9.]+ GB)")))
      << server.output();
}

TEST(ServeMemoryPlanTest, SkipPlanCheckServesWhatThePlanRefuses) {
  ServerProcess refused({"--memory-limit", "0.5"});
  EXPECT_EQ(refused.WaitForExit(std::chrono::seconds(60)), 1);
  EXPECT_THAT(refused.output(), HasSubstr("pydoc-moe does not fit in the --memory-limit"));
  ServerProcess skipped({"--memory-limit", "0.5", "--skip-plan-check"});
  ASSERT_GT(skipped.port(), 0) << skipped.output();
  EXPECT_THAT(skipped.output(), Not(HasSubstr("plan:")));
  const Posted r = Post(skipped, "/v1/completions", R"({"prompt": "The list", "max_tokens": 4})");
  EXPECT_EQ(r.status, 200) << r.raw;
}

TEST(ServeMemoryPlanTest, HelpDescribesThePlanCheck) {
  ServerProcess help({"--help"});
  EXPECT_EQ(help.WaitForExit(std::chrono::seconds(60)), 0);
  EXPECT_THAT(help.output(), HasSubstr("Plans the memory first, as 'switchyard plan' does"));
  EXPECT_THAT(help.output(), HasSubstr("--memory-limit GB"));
  EXPECT_THAT(help.output(), HasSubstr("--skip-plan-check"));
}

TEST(ServeMemoryPlanTest, ABadMemoryLimitIsAUsageError) {
  for (const char* limit : {"0", "-1", "lots"}) {
    ServerProcess server({"--memory-limit", limit});
    EXPECT_EQ(server.WaitForExit(std::chrono::seconds(60)), 2) << limit;
    EXPECT_THAT(server.output(), HasSubstr("--memory-limit: expected a size in GB > 0"));
  }
}

TEST(ServeStartTest, ABusyPortIsAClearError) {
  ServerProcess first;
  ASSERT_GT(first.port(), 0) << first.output();
  ServerProcess second({"--port", std::to_string(first.port())});
  EXPECT_EQ(second.WaitForExit(std::chrono::seconds(60)), 1);
  EXPECT_THAT(second.output(),
              HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(first.port())));
}

}  // namespace
