// Models written by make-model's writer, loaded and run: every architecture runs, and the
// paged KV cache makes token-by-token decoding agree with one prefill of the same tokens.
#include "core/model/moe_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch_dir.h"

#include <cmath>
#include <filesystem>

#include "core/model/model_writer.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class MoeModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    dir_ = sy::testing_support::ScratchDir() + "/model";
    std::filesystem::remove_all(dir_);
    ModelSpec spec = *Preset(GetParam());
    spec.init_std = 0.2;  // large enough that routing and attention are far from uniform
    ASSERT_TRUE(WriteModel(spec, dir_).ok());
  }
  std::unique_ptr<MoeModel> Load(const ModelOptions& options = {}) {
    auto ckpt = Checkpoint::Open(dir_);
    EXPECT_TRUE(ckpt.ok()) << ckpt.status();
    auto model = MoeModel::Load(*ckpt, registry_, options, *ctx_);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *std::move(model) : nullptr;
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  std::string dir_;
};

TEST_P(MoeModelTest, DecodingTokenByTokenMatchesOnePrefill) {
  auto model = Load();
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> tokens = {5, 300, 17, 42, 99, 7, 256};
  auto cache = *PagedKvCache::Create(model->CacheShape(16, 4));
  ASSERT_TRUE(cache.AddSequence(0).ok());
  ASSERT_TRUE(cache.AddSequence(1).ok());
  Tensor prefill = *model->Forward(*ctx_, tokens, 0, cache);
  const int64_t vocab = model->config().vocab_size;
  ASSERT_EQ(prefill.shape(), (Shape{7, vocab}));
  for (size_t t = 0; t < tokens.size(); ++t) {
    Tensor step = *model->Forward(*ctx_, {tokens[t]}, 1, cache);
    double diff = 0, norm = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      const double a = prefill.Get(t * vocab + v), b = step.Get(v);
      ASSERT_TRUE(std::isfinite(a));
      diff = std::max(diff, std::abs(a - b));
      norm = std::max(norm, std::abs(a));
    }
    EXPECT_LT(diff, 1e-4 * std::max(norm, 1.0)) << "position " << t;
  }
  EXPECT_FALSE(model->moe_layers().empty());
}

// A continuous-batching step (one sequence prefilling a chunk, others decoding) gives each
// sequence the logits it gets when run alone.
TEST_P(MoeModelTest, ABatchedStepMatchesEachSequenceAlone) {
  auto model = Load();
  ASSERT_NE(model, nullptr);
  const int64_t vocab = model->config().vocab_size;
  const std::vector<std::vector<int32_t>> prompts = {{5, 300, 17, 42}, {99, 7}, {256, 1, 2}};
  auto alone = *PagedKvCache::Create(model->CacheShape(32, 4));
  auto batched = *PagedKvCache::Create(model->CacheShape(32, 4));
  std::vector<Tensor> expected;
  std::vector<SequenceChunk> step;
  for (int64_t s = 0; s < 3; ++s) {
    ASSERT_TRUE(alone.AddSequence(s).ok());
    ASSERT_TRUE(batched.AddSequence(s).ok());
    // Sequences 1 and 2 already hold their first tokens; sequence 0 starts from nothing.
    const auto& p = prompts[s];
    const size_t held = s == 0 ? 0 : p.size() - 1;
    if (held > 0) {
      const std::vector<int32_t> history(p.begin(), p.begin() + held);
      ASSERT_TRUE(model->Forward(*ctx_, history, s, alone).ok());
      ASSERT_TRUE(model->Forward(*ctx_, history, s, batched).ok());
    }
    const std::vector<int32_t> rest(p.begin() + held, p.end());
    expected.push_back(*model->Forward(*ctx_, rest, s, alone));
    step.push_back({.sequence = s, .tokens = rest, .all_logits = s == 0});
  }
  Tensor logits = *model->ForwardBatch(*ctx_, step, batched);
  ASSERT_EQ(logits.shape(), (Shape{4 + 1 + 1, vocab}));
  const int64_t first_row[] = {0, 4, 5};
  for (int64_t s = 0; s < 3; ++s) {
    const int64_t rows = expected[s].dim(0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t v = 0; v < vocab; ++v) {
        ASSERT_NEAR(logits.Get((first_row[s] + r) * vocab + v), expected[s].Get(r * vocab + v),
                    1e-4)
            << "sequence " << s << " row " << r;
      }
    }
    EXPECT_EQ(*batched.Length(s, 0), static_cast<int64_t>(prompts[s].size()));
  }
}

TEST_P(MoeModelTest, AQuantizerSwapsInAndStaysClose) {
  auto exact = Load();
  ModelOptions options;
  options.quantizer = "quantizer.int8";
  auto int8 = Load(options);
  ASSERT_NE(exact, nullptr);
  ASSERT_NE(int8, nullptr);
  auto cache = *PagedKvCache::Create(exact->CacheShape(8, 4));
  ASSERT_TRUE(cache.AddSequence(0).ok());
  ASSERT_TRUE(cache.AddSequence(1).ok());
  Tensor a = *exact->Forward(*ctx_, {1, 2, 3}, 0, cache);
  Tensor b = *int8->Forward(*ctx_, {1, 2, 3}, 1, cache);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff += (a.Get(i) - b.Get(i)) * (a.Get(i) - b.Get(i));
    norm += a.Get(i) * a.Get(i);
  }
  EXPECT_GT(diff, 0.0);
  // int8 moves each layer's output by ~1%, but in a random model that can flip a token's
  // top-2 experts in the next layer, which changes its logits a lot; bound the whole-batch error.
  EXPECT_LT(std::sqrt(diff / norm), 0.3);
}

TEST_P(MoeModelTest, AWrongTensorShapeNamesTheTensor) {
  ModelSpec spec = *Preset(GetParam());
  spec.hidden = 32;  // the writer's tensors no longer match what config.json would say
  const std::string other = dir_ + "_small";
  std::filesystem::remove_all(other);
  ASSERT_TRUE(WriteModel(spec, other).ok());
  std::filesystem::copy_file(dir_ + "/config.json", other + "/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  auto ckpt = Checkpoint::Open(other);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto model = MoeModel::Load(*ckpt, registry_, {}, *ctx_);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("tensor 'model.embed_tokens.weight' has shape"));
}

TEST_P(MoeModelTest, RefusesPositionsBeyondTheContext) {
  auto model = Load();
  ASSERT_NE(model, nullptr);
  auto cache = *PagedKvCache::Create(model->CacheShape(4096, 16));
  ASSERT_TRUE(cache.AddSequence(0).ok());
  std::vector<int32_t> too_many(model->config().max_position_embeddings + 1, 1);
  EXPECT_THAT(std::string(model->Forward(*ctx_, too_many, 0, cache).status().message()),
              HasSubstr("the model's context is"));
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, MoeModelTest,
                         ::testing::Values("tiny-mixtral", "tiny-qwen2-moe", "tiny-qwen3-moe",
                                           "tiny-deepseek-v3", "tiny-gpt-oss", "tiny-olmoe"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace sy
