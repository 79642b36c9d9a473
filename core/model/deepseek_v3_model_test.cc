// DeepSeek-V3 checkpoints written by make-model: the latent cache, the grouped router, fp8
// block-128 weights dequantized on load, and the bad inputs named in issue 9.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/base/status.h"
#include "core/model/model_writer.h"
#include "core/model/moe_model.h"
#include "core/model/safetensors_writer.h"
#include "core/model/weight_loader.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

class DeepseekV3ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    root_ = sy::testing_support::ScratchDir();
    spec_ = *Preset("tiny-deepseek-v3");
    spec_.init_std = 0.2;
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
    return *model.Forward(*ctx_, {5, 300, 17, 42, 99, 7}, 0, cache);
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  std::string root_;
  ModelSpec spec_;
};

TEST_F(DeepseekV3ModelTest, CachesLatentsAndRoutesWithGroupedTopK) {
  auto model = Load(Write(spec_, "bf"));
  ASSERT_TRUE(model.ok()) << model.status();
  const KvCacheShape shape = (*model)->CacheShape(4, 16);
  EXPECT_FALSE(shape.has_values);
  EXPECT_EQ(shape.kv_heads, 1);
  EXPECT_EQ(shape.head_dim, spec_.kv_lora_rank + spec_.qk_rope_head_dim);
  // first_k_dense_replace = 1: layers 1 and 2 are MoE, with the shared expert.
  const auto layers = (*model)->moe_layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]->router().name, "router.grouped_topk");
  EXPECT_EQ(layers[0]->shape().shared_intermediate, spec_.intermediate);
  Tensor logits = Logits(**model);
  for (int64_t i = 0; i < logits.numel(); ++i) ASSERT_TRUE(std::isfinite(logits.Get(i)));
  // Every routed weight is an unbiased sigmoid score renormalized and scaled by 2.5.
  const RouterOutput& routing = layers[0]->last_routing();
  for (int64_t t = 0; t < routing.expert_weights.dim(0); ++t) {
    double sum = 0;
    for (int64_t j = 0; j < 2; ++j) sum += routing.expert_weights.Get(t * 2 + j);
    EXPECT_NEAR(sum, 2.5, 1e-5);
  }
}

TEST_F(DeepseekV3ModelTest, PlainQProjWithoutQLora) {
  spec_.q_lora_rank = 0;
  const std::string dir = Write(spec_, "noq");
  auto model = Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(Json::parse(std::ifstream(dir + "/config.json"))["q_lora_rank"], nullptr);
  EXPECT_TRUE(std::isfinite(Logits(**model).Get(0)));
}

TEST(Fp8BlocksTest, DequantizesEachBlockWithItsScale) {
  // e4m3: 0x38 = 1.0, 0x40 = 2.0, 0xC0 = -2.0, 0x3C = 1.5; blocks of 1 x 2.
  Tensor q = *Tensor::Empty({2, 3}, DType::kFP8E4M3);
  const uint8_t bytes[] = {0x38, 0x40, 0xC0, 0x3C, 0x38, 0x40};
  std::copy(bytes, bytes + 6, q.data<uint8_t>());
  const Tensor scales = *Tensor::FromF32({2, 2}, {0.5f, 4.0f, 2.0f, -1.0f});
  auto w = DequantizeFp8Blocks(q, scales, 1, 2, "w");
  ASSERT_TRUE(w.ok()) << w.status();
  const float expected[] = {0.5f, 1.0f, -8.0f, 3.0f, 2.0f, -2.0f};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(w->Get(i), expected[i]) << i;
  auto bad = DequantizeFp8Blocks(q, *Tensor::FromF32({1, 2}, {1, 1}), 1, 2, "w");
  EXPECT_THAT(bad.status().message(), HasSubstr("'w_scale_inv'"));
}

TEST_F(DeepseekV3ModelTest, Fp8BlockCheckpointLoadsDequantized) {
  spec_.init_std = 0.02;  // trained-like scale: e4m3 rounding does not flip the routing
  auto reference = Load(Write(spec_, "f32"));
  ASSERT_TRUE(reference.ok()) << reference.status();
  spec_.fp8 = true;
  const std::string dir = Write(spec_, "fp8");
  auto ckpt = *Checkpoint::Open(dir);
  EXPECT_EQ((*ckpt.Get("model.layers.1.mlp.experts.0.up_proj.weight")).dtype(), DType::kFP8E4M3);
  EXPECT_EQ((*ckpt.Get("model.layers.0.self_attn.kv_b_proj.weight_scale_inv")).dtype(),
            DType::kF32);
  auto model = Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  // Same weights up to e4m3 rounding (3 mantissa bits): the logits agree closely.
  Tensor a = Logits(**reference), b = Logits(**model);
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    dot += a.Get(i) * b.Get(i);
    na += a.Get(i) * a.Get(i);
    nb += b.Get(i) * b.Get(i);
  }
  EXPECT_GT(dot / std::sqrt(na * nb), 0.99);
}

// Rewrites `dir`'s single shard without `drop`.
void DropTensor(const std::string& dir, const std::string& drop) {
  std::vector<NamedTensor> kept;
  {
    auto ckpt = *Checkpoint::Open(dir);
    for (const std::string& name : ckpt.names()) {
      if (name != drop) kept.push_back({name, *(*ckpt.Get(name)).Clone()});
    }
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", kept).ok());
}

TEST_F(DeepseekV3ModelTest, MissingScaleInvNamesTheTensor) {
  spec_.fp8 = true;
  const std::string dir = Write(spec_, "noscale");
  DropTensor(dir, "model.layers.0.self_attn.kv_b_proj.weight_scale_inv");
  auto model = Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(),
              HasSubstr("'model.layers.0.self_attn.kv_b_proj.weight' is fp8_e4m3 but "
                        "'model.layers.0.self_attn.kv_b_proj.weight_scale_inv' is missing"));
}

TEST_F(DeepseekV3ModelTest, KvLoraRankNotMatchingTheWeightsNamesFieldAndTensor) {
  const std::string dir = Write(spec_, "rank");
  Json config = Json::parse(std::ifstream(dir + "/config.json"));
  config["kv_lora_rank"] = 32;
  std::ofstream(dir + "/config.json") << config.dump();
  auto model = Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("config.json kv_lora_rank (32)"));
  EXPECT_THAT(model.status().message(),
              HasSubstr("'model.layers.0.self_attn.kv_a_proj_with_mqa.weight' of shape [24,64]"));
}

TEST_F(DeepseekV3ModelTest, ExpertsNotDivisibleByNGroupIsRefusedAtOpen) {
  const std::string dir = Write(spec_, "groups");
  Json config = Json::parse(std::ifstream(dir + "/config.json"));
  config["n_group"] = 3;
  std::ofstream(dir + "/config.json") << config.dump();
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_THAT(ckpt.status().message(),
              HasSubstr("config.json: field 'n_group' (3) does not divide n_routed_experts (8)"));
}

}  // namespace
}  // namespace sy
