// Record -> replay: a layer run on router.replay reproduces the recorded run exactly, and bad
// traces are errors that name the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch_dir.h"

#include <filesystem>
#include <fstream>

#include "core/moe/moe_layer.h"
#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    weights_ = *MoeWeights::Random({.experts = 6, .hidden = 8, .intermediate = 4}, 3);
    path_ = sy::testing_support::ScratchDir() + "/replay_test.trace";
  }
  absl::StatusOr<Router> MakeRouter(const std::string& name, ConfigTable config) {
    auto c = Component::Create(*registry_.Find(name), {std::move(config)});
    if (!c.ok()) return c.status();
    return Router::From(*c);
  }
  std::unique_ptr<MoeLayer> Layer(Router router, std::shared_ptr<TraceWriter> trace = nullptr) {
    MoeLayerOptions options;
    options.trace = std::move(trace);
    auto experts = *Experts::From(*Component::Create(*registry_.Find("experts.cpu"), {}));
    return *MoeLayer::Create(RoutingFunction::FromRouter(router), std::nullopt, experts, weights_, options, *ctx_);
  }
  // Records two steps of a softmax top-2 layer; returns their outputs.
  std::vector<Tensor> Record() {
    auto trace = std::shared_ptr<TraceWriter>(*TraceWriter::Create(path_, {"test-model", 6, 2}));
    auto layer = Layer(*MakeRouter("router.softmax_topk", {{"k", {int64_t{2}}}}), trace);
    std::vector<Tensor> outputs;
    for (int step = 0; step < 2; ++step) outputs.push_back(*layer->Forward(*ctx_, *RandomNormal({5 + step, 8}, step)));
    EXPECT_TRUE(trace->Close().ok());
    EXPECT_EQ(trace->records(), 2);
    return outputs;
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  MoeWeights weights_;
  std::string path_;
};

TEST_F(ReplayTest, ReplayReproducesTheRecordedOutputsExactly) {
  const std::vector<Tensor> recorded = Record();
  auto router = MakeRouter("router.replay", {{"path", {path_}}});
  ASSERT_TRUE(router.ok()) << router.status();
  EXPECT_EQ(router->top_k(), 2);
  auto layer = Layer(*router);
  for (int step = 0; step < 2; ++step) {
    Tensor y = *layer->Forward(*ctx_, *RandomNormal({5 + step, 8}, step));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.Get(i), recorded[step].Get(i)) << "step " << step;
  }
  EXPECT_THAT(std::string(layer->Forward(*ctx_, *RandomNormal({5, 8}, 0)).status().message()),
              HasSubstr("no more records for layer 0 (replayed 2)"));
}

TEST_F(ReplayTest, TruncatedTraceIsAnErrorNamingTheFile) {
  Record();
  const auto size = std::filesystem::file_size(path_);
  std::filesystem::resize_file(path_, size - 7);
  auto router = MakeRouter("router.replay", {{"path", {path_}}});
  ASSERT_FALSE(router.ok());
  EXPECT_THAT(std::string(router.status().message()), HasSubstr(path_ + ": truncated or corrupt trace after 1 records"));
}

TEST_F(ReplayTest, TraceFromAnotherModelIsRefused) {
  Record();
  MoeWeights other = *MoeWeights::Random({.experts = 4, .hidden = 8, .intermediate = 4}, 3);
  auto experts = *Experts::From(*Component::Create(*registry_.Find("experts.cpu"), {}));
  auto layer = *MoeLayer::Create(RoutingFunction::FromRouter(*MakeRouter("router.replay", {{"path", {path_}}})),
                                 std::nullopt, experts, other, {}, *ctx_);
  EXPECT_THAT(std::string(layer->Forward(*ctx_, *RandomNormal({5, 8}, 0)).status().message()),
              HasSubstr("recorded for 6 experts (model 'test-model'), but the layer has 4"));
}

TEST_F(ReplayTest, MissingOrGarbageFilesAreErrors) {
  EXPECT_THAT(std::string(MakeRouter("router.replay", {{"path", {std::string("/nonexistent.trace")}}}).status().message()),
              HasSubstr("/nonexistent.trace: cannot open the trace"));
  std::ofstream(path_) << "not a trace at all, just text that is long enough";
  EXPECT_THAT(std::string(MakeRouter("router.replay", {{"path", {path_}}}).status().message()),
              HasSubstr("truncated or corrupt trace after 0 records"));
  EXPECT_THAT(std::string(MakeRouter("router.replay", {}).status().message()), HasSubstr("needs a trace path"));
}

}  // namespace
}  // namespace sy
