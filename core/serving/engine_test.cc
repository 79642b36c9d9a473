// The engine on the built-in model with the real scheduler plugins, its loop on a thread as
// `switchyard serve` runs it.
#include "core/serving/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/device/cuda_runtime.h"
#include "core/distributed/expert_parallel_group.h"
#include "core/model/generation.h"
#include "tests/support/source_tree.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new ComponentRegistry();
    registry_->Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = ExecContext::Create(Device::Cpu(), 2)->release();
    model_ = new std::shared_ptr<LanguageModel>(
        *LanguageModel::Load(SY_TEST_SOURCE_DIR "/models/pydoc-moe", *registry_, {}, *ctx_));
  }

  std::unique_ptr<Engine> MakeEngine(const EngineOptions& options,
                                     const std::string& scheduler = "scheduler.continuous",
                                     const ConfigValue& config = {}) {
    auto component = Component::Create(*registry_->Find(scheduler), config);
    EXPECT_TRUE(component.ok()) << component.status();
    auto engine = Engine::Create(*model_, *Scheduler::From(*component), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(*engine);
  }

  GenerationRequest Request(const std::string& prompt, int32_t max_tokens) {
    GenerationRequest r;
    r.prompt = *(*model_)->EncodeText(prompt);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = max_tokens;
    return r;
  }

  static std::string ReadAll(RequestStream& stream, StreamEvent* last = nullptr) {
    std::string text;
    while (true) {
      StreamEvent e = stream.Next();
      text += e.text;
      if (e.finished) {
        if (last) *last = e;
        return text;
      }
    }
  }

  static inline ComponentRegistry* registry_;
  static inline ExecContext* ctx_;
  static inline std::shared_ptr<LanguageModel>* model_;
};

// Requests batched together give what each gives alone (greedy), with usage counts.
TEST_F(EngineTest, BatchedRequestsMatchGeneratingAlone) {
  const std::vector<std::string> prompts = {"The list type", "A dictionary maps",
                                            "def read_config(path):", "To open a file"};
  std::vector<std::string> alone;
  for (const auto& p : prompts) {
    auto r = Generate(*(*model_)->network, (*model_)->tokenizer, *ctx_, *(*model_)->EncodeText(p),
                      Request(p, 24).sampling, (*model_)->eos_ids, nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    alone.push_back(r->text);
  }
  // A budget of 8 tokens per step: prompts prefill in chunks beside other sequences' decodes.
  const ConfigValue budget{ConfigTable{{"max_batch_tokens", ConfigValue{int64_t{8}}}}};
  auto engine = MakeEngine({}, "scheduler.continuous", budget);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : prompts) streams.push_back(*engine->Submit(Request(p, 24)));
  std::thread loop([&] { ASSERT_TRUE(engine->Run().ok()); });
  for (size_t i = 0; i < prompts.size(); ++i) {
    StreamEvent last;
    EXPECT_EQ(ReadAll(*streams[i], &last), alone[i]) << prompts[i];
    EXPECT_TRUE(last.error.ok());
    EXPECT_EQ(last.prompt_tokens, static_cast<int64_t>((*model_)->EncodeText(prompts[i])->size()));
    EXPECT_EQ(last.completion_tokens, 24);
    EXPECT_EQ(last.finish_reason, "length");
  }
  engine->Shutdown(/*drain=*/true);
  loop.join();
  const std::string metrics = engine->RenderMetrics();
  EXPECT_THAT(metrics, HasSubstr("switchyard_requests_finished_total{reason=\"length\"} 4"));
  EXPECT_THAT(metrics, HasSubstr("switchyard_generation_tokens_total 96"));
  EXPECT_THAT(metrics, HasSubstr("switchyard_kv_blocks_used 0"));
  EXPECT_THAT(metrics, HasSubstr("switchyard_expert_tokens_total{layer=\"3\",expert=\"7\"}"));
}

// 16 requests of ~40 tokens each in a cache of 12 blocks of 16 tokens: they cannot all be
// resident, so the scheduler preempts and recomputes; every request still completes in full.
TEST_F(EngineTest, ABurstLargerThanTheCacheCompletesThroughPreemption) {
  for (const char* scheduler : {"scheduler.continuous", "scheduler.fcfs"}) {
    auto engine = MakeEngine({.kv_blocks = 12, .block_size = 16}, scheduler);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (int i = 0; i < 16; ++i) {
      streams.push_back(*engine->Submit(Request("The list type is a mutable sequence", 32)));
    }
    std::thread loop([&] { ASSERT_TRUE(engine->Run().ok()); });
    for (auto& s : streams) {
      StreamEvent last;
      ReadAll(*s, &last);
      EXPECT_TRUE(last.error.ok()) << last.error;
      EXPECT_EQ(last.completion_tokens, 32) << scheduler;
    }
    engine->Shutdown(true);
    loop.join();
    const std::string metrics = engine->RenderMetrics();
    EXPECT_THAT(metrics, ::testing::ContainsRegex("switchyard_preemptions_total [1-9]"))
        << scheduler;
    EXPECT_THAT(metrics, HasSubstr("switchyard_kv_blocks_used 0")) << scheduler;
  }
}

TEST_F(EngineTest, ACancelledRequestEndsAndFreesItsBlocks) {
  auto engine = MakeEngine({});
  auto stream = *engine->Submit(Request("The list type", 900));
  std::thread loop([&] { ASSERT_TRUE(engine->Run().ok()); });
  ASSERT_FALSE(stream->Next().finished);  // it is generating
  stream->Cancel();
  StreamEvent last;
  ReadAll(*stream, &last);
  EXPECT_EQ(last.finish_reason, "abort");
  EXPECT_EQ(last.error.code(), absl::StatusCode::kCancelled);
  EXPECT_LT(last.completion_tokens, 900);
  engine->Shutdown(true);
  loop.join();
  EXPECT_THAT(engine->RenderMetrics(), HasSubstr("switchyard_kv_blocks_used 0"));
  EXPECT_THAT(engine->RenderMetrics(), HasSubstr("reason=\"abort\"} 1"));
}

TEST_F(EngineTest, SubmitRefusesWhatCannotRun) {
  auto engine = MakeEngine({.kv_blocks = 4, .block_size = 16, .max_waiting = 2});
  GenerationRequest too_long = Request("The list type", 1100);
  EXPECT_THAT(std::string(engine->Submit(too_long).status().message()),
              HasSubstr("maximum context length is 1024 tokens; the request needs 1103"));
  GenerationRequest too_big = Request("The list type", 100);  // 7 blocks > 4
  EXPECT_THAT(std::string(engine->Submit(too_big).status().message()),
              HasSubstr("needs 7 KV-cache blocks at its longest; the cache has 4"));
  GenerationRequest bad_token = Request("x", 4);
  bad_token.prompt = {5000};
  EXPECT_EQ(engine->Submit(bad_token).status().code(), absl::StatusCode::kInvalidArgument);
  GenerationRequest bad_sampling = Request("x", 4);
  bad_sampling.sampling.top_p = 2;
  EXPECT_EQ(engine->Submit(bad_sampling).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine->Submit(Request("a", 4)).ok());
  ASSERT_TRUE(engine->Submit(Request("b", 4)).ok());
  EXPECT_EQ(engine->Submit(Request("c", 4)).status().code(),
            absl::StatusCode::kResourceExhausted);  // the queue holds 2
  engine->Shutdown(/*drain=*/false);
  EXPECT_EQ(engine->Submit(Request("d", 4)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(engine->Run().ok());  // aborts the queued two and returns
}

TEST_F(EngineTest, ADrainingShutdownFinishesWhatIsInFlight) {
  auto engine = MakeEngine({});
  auto stream = *engine->Submit(Request("The list type", 40));
  std::thread loop([&] { ASSERT_TRUE(engine->Run().ok()); });
  engine->Shutdown(/*drain=*/true);
  StreamEvent last;
  ReadAll(*stream, &last);
  EXPECT_EQ(last.completion_tokens, 40);
  EXPECT_TRUE(last.error.ok());
  loop.join();
  EXPECT_FALSE(engine->accepting());
}

TEST_F(EngineTest, OnStepSeesEachStepsBatchAndExpertLoad) {
  auto engine = MakeEngine({});
  auto stream = *engine->Submit(Request("The list type", 5));
  int steps = 0;
  uint32_t decode_tokens = 0, routed = 0;
  std::thread loop([&] {
    ASSERT_TRUE(engine
                    ->Run([&](schema::StepReport::Reader r) {
                      ++steps;
                      decode_tokens += r.getDecodeTokens();
                      ASSERT_EQ(r.getLayers().size(), 4u);
                      for (uint32_t n : r.getLayers()[0].getTokensPerExpert()) routed += n;
                    })
                    .ok());
  });
  ReadAll(*stream);
  engine->Shutdown(true);
  loop.join();
  EXPECT_EQ(steps, 5);  // one prefill step (samples the first token), four decodes
  EXPECT_EQ(decode_tokens, 5u);
  EXPECT_EQ(routed, (3u + 4u) * 2u);  // 3 prompt tokens + 4 fed back, top-2
}

// The built-in model on the GPU, served with sampling on the device (the default there) and on
// the host (SWITCHYARD_DEVICE_SAMPLING=0): every request of every sampling filter completes, the
// greedy ones as on the host, and the seeded draws and the penalty take effect on the device. Its
// own suite, reading the model and plugins where a bundle has them (EngineTest's fixture reads
// the build tree's).
TEST(EngineGpuTest, DeviceSamplingGivesHostSamplingsCompletions) {
  if (cuda::DeviceCount() <= 0) GTEST_SKIP() << "no CUDA device";
  ComponentRegistry registry;
  registry.Discover(DefaultPluginSearchPath());
  const std::string dir = testing_support::SourceTree() + "/models/pydoc-moe";
  const auto sampling = [](float temperature, int32_t top_k, float top_p, float min_p,
                           float penalty, uint64_t seed) {
    return SamplingParams{.temperature = temperature,
                          .top_k = top_k,
                          .top_p = top_p,
                          .min_p = min_p,
                          .repetition_penalty = penalty,
                          .seed = seed,
                          .max_tokens = 40};
  };
  const std::vector<SamplingParams> requests = {
      sampling(0.0f, 0, 1.0f, 0.0f, 1.0f, 0),   sampling(0.0f, 0, 1.0f, 0.0f, 1.3f, 0),
      sampling(1.0f, 0, 1.0f, 0.0f, 1.0f, 1),   sampling(0.8f, 0, 0.9f, 0.0f, 1.0f, 2),
      sampling(1.2f, 20, 1.0f, 0.0f, 1.2f, 3),  sampling(1.0f, 0, 1.0f, 0.1f, 1.0f, 4),
      sampling(1.5f, 50, 0.95f, 0.05f, 1.1f, 5)};
  const auto serve = [&](bool on_device) {
    std::vector<std::string> texts;
    if (!on_device) setenv("SWITCHYARD_DEVICE_SAMPLING", "0", 1);
    auto ctx = ExecContext::Create(Device::Cuda(0), 2);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    ModelOptions options;
    options.device = Device::Cuda(0);
    auto model = LanguageModel::Load(dir, registry, options, **ctx);
    unsetenv("SWITCHYARD_DEVICE_SAMPLING");
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return texts;
    EXPECT_EQ((*model)->network->samples_on_device(), on_device);
    const std::vector<int32_t> prompt = *(*model)->EncodeText("def read_config(path):");
    auto component = Component::Create(*registry.Find("scheduler.continuous"), {});
    auto engine = Engine::Create(std::shared_ptr<LanguageModel>(std::move(*model)),
                                 *Scheduler::From(*component), {.kv_cache_bytes = 64ll << 20});
    EXPECT_TRUE(engine.ok()) << engine.status();
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const SamplingParams& p : requests) {
      streams.push_back(*(*engine)->Submit({.prompt = prompt, .sampling = p, .ignore_eos = true}));
    }
    std::thread loop([&] { ASSERT_TRUE((*engine)->Run().ok()); });
    for (auto& stream : streams) {
      StreamEvent last;
      std::string text;
      do {
        last = stream->Next();
        text += last.text;
      } while (!last.finished);
      EXPECT_TRUE(last.error.ok()) << last.error;
      EXPECT_EQ(last.completion_tokens, 40);
      texts.push_back(text);
    }
    (*engine)->Shutdown(/*drain=*/true);
    loop.join();
    return texts;
  };
  const std::vector<std::string> device = serve(true), host = serve(false);
  ASSERT_EQ(device.size(), requests.size());
  ASSERT_EQ(host.size(), requests.size());
  // Greedy rows (with and without the penalty) must agree from the start; a last-bit difference
  // of the two forwards (the MoE decode kernel's f32 atomics) can part them only late. Sampled
  // rows are compared exactly by kernels/dense/sampling_kernel_test.cc on shared logits; end to
  // end they are not repeatable even host against host (docs/gpu-model.md), so only their
  // lengths (above) and effects (below) are checked.
  for (size_t i : {0, 1}) {
    EXPECT_EQ(device[i].substr(0, 16), host[i].substr(0, 16)) << "request " << i;
  }
  EXPECT_NE(device[2], device[0]);  // the seeded draws did sample, not fall back to greedy
  EXPECT_NE(device[1], device[0]);  // the penalty reached the device
}

// Under expert parallelism with online rebalancing, the engine publishes the rebalancer's
// reports as the placement gauges. One process over comm.local is a world of one rank, so the
// load is always balanced; tests/e2e/expert_parallel_test.cc rebalances real ranks.
TEST_F(EngineTest, PublishesThePlacementBalanceWhenRebalancing) {
  const std::string dir = SY_TEST_SOURCE_DIR "/models/pydoc-moe";
  ExpertParallelOptions options;
  options.comm = "comm.local";
  options.rebalance_interval = 2;
  auto group = JoinExpertParallelGroup(RankInfo{}, Checkpoint::Open(dir)->config(), *registry_,
                                       options, *ctx_);
  ASSERT_TRUE(group.ok()) << group.status();
  ModelOptions model_options;
  model_options.expert_parallel = group->expert_parallel;
  std::shared_ptr<LanguageModel> model =
      *LanguageModel::Load(dir, *registry_, model_options, *ctx_);
  auto component = Component::Create(*registry_->Find("scheduler.continuous"), {});
  auto engine = *Engine::Create(model, *Scheduler::From(*component), {});
  EXPECT_THAT(engine->RenderMetrics(), Not(HasSubstr("switchyard_ep_rank_imbalance")));
  auto stream = *engine->Submit(Request("The list type", 5));
  std::thread loop([&] { ASSERT_TRUE(engine->Run().ok()); });
  ReadAll(*stream);
  engine->Shutdown(true);
  loop.join();
  const std::string metrics = engine->RenderMetrics();
  for (const char* placement : {"logical", "previous", "balanced"}) {
    EXPECT_THAT(metrics,
                HasSubstr(absl::StrCat("switchyard_ep_rank_imbalance{layer=\"3\",placement=\"",
                                       placement, "\"} 1\n")));
  }
  EXPECT_THAT(metrics, HasSubstr("switchyard_ep_rebalances_total 0\n"));
}

// The keep-alive an idle expert-parallel engine sends: a quarter of the group's timeout, at most
// 250 ms; a timeout that would need keep-alives under 25 ms is refused naming both figures.
TEST(KeepAliveIntervalTest, IsAQuarterOfTheTimeoutUpTo250MsAndRefusesTooShortTimeouts) {
  using std::chrono::milliseconds;
  EXPECT_EQ(*KeepAliveInterval(absl::Seconds(60)), milliseconds(250));
  EXPECT_EQ(*KeepAliveInterval(absl::Seconds(1)), milliseconds(250));
  EXPECT_EQ(*KeepAliveInterval(absl::Milliseconds(400)), milliseconds(100));
  EXPECT_EQ(*KeepAliveInterval(absl::Milliseconds(100)), milliseconds(25));
  EXPECT_EQ(*KeepAliveInterval(absl::InfiniteDuration()), milliseconds(250));
  const auto refused = KeepAliveInterval(absl::Milliseconds(90));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("timeout of 90 ms"));
  EXPECT_THAT(refused.status().message(), HasSubstr("alive every 22.5 ms"));
  EXPECT_THAT(refused.status().message(), HasSubstr("at least 100 ms"));
}

}  // namespace
}  // namespace sy
