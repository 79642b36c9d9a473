// gpt-oss checkpoints written by make-model: sinks and sliding-window layers, the biased router,
// the clamped SwiGLU experts with biases, and MXFP4 experts dequantized on load.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/base/status.h"
#include "core/model/model_writer.h"
#include "core/model/moe_model.h"
#include "core/model/safetensors_writer.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

class GptOssModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    root_ = sy::testing_support::ScratchDir();
    spec_ = *Preset("tiny-gpt-oss");
  }
  std::string Write(const ModelSpec& spec, const std::string& name) {
    const std::string dir = root_ + "/" + name;
    EXPECT_TRUE(WriteModel(spec, dir).ok());
    return dir;
  }
  absl::StatusOr<std::unique_ptr<MoeModel>> Load(const std::string& dir) {
    SY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(dir));
    return MoeModel::Load(ckpt, registry_, {}, *ctx_);
  }
  Tensor Logits(MoeModel& model) {
    auto cache = *PagedKvCache::Create(model.CacheShape(4, 16));
    EXPECT_TRUE(cache.AddSequence(0).ok());
    return *model.Forward(*ctx_, {5, 300, 17, 42, 99, 7, 256, 1}, 0, cache);
  }
  static double Cosine(const Tensor& a, const Tensor& b) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      dot += a.Get(i) * b.Get(i);
      na += a.Get(i) * a.Get(i);
      nb += b.Get(i) * b.Get(i);
    }
    return dot / std::sqrt(na * nb);
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  std::string root_;
  ModelSpec spec_;
};

TEST_F(GptOssModelTest, RoutesWithABiasedSoftmaxTopKAndClampedSwiglu) {
  auto model = Load(Write(spec_, "f32"));
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.SlidingWindow(0), 4);
  EXPECT_EQ(c.SlidingWindow(1), 0);
  const auto layers = (*model)->moe_layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]->router().name, "router.softmax_topk");
  EXPECT_EQ(layers[0]->expert_weights().activation, SY_ACTIVATION_CLAMPED_SWIGLU);
  EXPECT_TRUE(layers[0]->expert_weights().gate_up_bias.has_value());
  Tensor logits = Logits(**model);
  for (int64_t i = 0; i < logits.numel(); ++i) ASSERT_TRUE(std::isfinite(logits.Get(i)));
  const RouterOutput& routing = layers[0]->last_routing();
  for (int64_t t = 0; t < routing.expert_weights.dim(0); ++t) {
    EXPECT_NEAR(routing.expert_weights.Get(2 * t) + routing.expert_weights.Get(2 * t + 1), 1.0,
                1e-5);
  }
}

TEST_F(GptOssModelTest, TheSlidingWindowLayerSeesOnlyTheLastTokens) {
  spec_.init_std = 0.2;
  const std::string dir = Write(spec_, "window");
  auto windowed = Load(dir);
  ASSERT_TRUE(windowed.ok()) << windowed.status();
  Json config = Json::parse(std::ifstream(dir + "/config.json"));
  config["layer_types"] = {"full_attention", "full_attention"};
  std::ofstream(dir + "/config.json") << config.dump();
  auto full = Load(dir);
  ASSERT_TRUE(full.ok()) << full.status();
  Tensor a = Logits(**windowed), b = Logits(**full);
  const int64_t vocab = a.dim(1);
  double first = 0, last = 0;  // positions 0..3 see the same 4 tokens either way
  for (int64_t v = 0; v < vocab; ++v) {
    first = std::max(first, std::abs(a.Get(3 * vocab + v) - b.Get(3 * vocab + v)));
    last = std::max(last, std::abs(a.Get(7 * vocab + v) - b.Get(7 * vocab + v)));
  }
  EXPECT_LT(first, 1e-5);
  EXPECT_GT(last, 1e-3);
}

TEST_F(GptOssModelTest, Mxfp4ExpertsLoadDequantized) {
  auto reference = Load(Write(spec_, "plain"));
  ASSERT_TRUE(reference.ok()) << reference.status();
  spec_.mxfp4 = true;
  const std::string dir = Write(spec_, "mxfp4");
  auto ckpt = *Checkpoint::Open(dir);
  EXPECT_EQ((*ckpt.Get("model.layers.0.mlp.experts.gate_up_proj_blocks")).shape(),
            (Shape{8, 64, 2, 16}));
  EXPECT_EQ((*ckpt.Get("model.layers.0.mlp.experts.down_proj_scales")).shape(), (Shape{8, 64, 1}));
  EXPECT_EQ(ckpt.config().quantization->method, "mxfp4");
  auto model = Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  // 4-bit experts: close to the full-precision model, not equal.
  EXPECT_GT(Cosine(Logits(**reference), Logits(**model)), 0.98);
}

TEST_F(GptOssModelTest, AnMxfp4BlockOfTheWrongSizeNamesTheTensor) {
  spec_.mxfp4 = true;
  const std::string dir = Write(spec_, "badblock");
  const std::string bad = "model.layers.1.mlp.experts.down_proj_blocks";
  std::vector<NamedTensor> tensors;
  {
    auto ckpt = *Checkpoint::Open(dir);
    for (const std::string& name : ckpt.names()) {
      Tensor t = *(*ckpt.Get(name)).Clone();
      if (name == bad) t = *t.Reshape({8, 64, 2, 8});  // 8-byte "blocks"
      tensors.push_back({name, std::move(t)});
    }
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  auto model = Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(),
              HasSubstr("tensor '" + bad +
                        "': an MXFP4 block is 16 bytes (32 four-bit values), "
                        "got 8"));
}

TEST_F(GptOssModelTest, ExpertsWithoutTheClampedSwigluAreRefused) {
  // A plugin that implements only SiLU (the SDK default) must not run gpt-oss experts silently:
  // the host asks supports_activation first. experts.cpu implements it.
  auto model = Load(Write(spec_, "act"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(
      (*model)->moe_layers()[0]->experts().SupportsActivation(SY_ACTIVATION_CLAMPED_SWIGLU));
}

}  // namespace
}  // namespace sy
