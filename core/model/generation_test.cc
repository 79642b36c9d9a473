// Generation on a tiny make-model checkpoint: greedy decoding is the argmax chain, and
// max_tokens, end-of-sequence ids and stop strings end it where they should.
#include "core/model/generation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch_dir.h"

#include <algorithm>
#include <filesystem>

#include "core/model/model_writer.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class GenerationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    const std::string dir = sy::testing_support::ScratchDir() + "/model";
    std::filesystem::remove_all(dir);
    ModelSpec spec = *Preset("tiny-qwen3-moe");
    spec.init_std = 0.3;
    ASSERT_TRUE(WriteModel(spec, dir).ok());
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    model_ = *MoeModel::Load(*ckpt, registry_, {}, *ctx_);
    tokenizer_.emplace(*BpeTokenizer::FromFile(dir + "/tokenizer.json"));
    prompt_ = *tokenizer_->Encode("The quick brown fox");
  }
  GenerationResult Run(const SamplingParams& params, const std::vector<int64_t>& eos = {}) {
    std::string streamed;
    auto result = Generate(*model_, *tokenizer_, *ctx_, prompt_, params, eos,
                           [&](const std::string& text) { streamed += text; });
    EXPECT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(streamed, result->text);
    return *result;
  }
  static SamplingParams Greedy(int max_tokens) {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = max_tokens;
    return p;
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  std::unique_ptr<MoeModel> model_;
  std::optional<BpeTokenizer> tokenizer_;
  std::vector<int32_t> prompt_;
};

TEST_F(GenerationTest, GreedyIsTheArgmaxChain) {
  const GenerationResult result = Run(Greedy(6));
  ASSERT_EQ(result.tokens.size(), 6u);
  EXPECT_EQ(result.finish_reason, "length");
  EXPECT_EQ(result.text, tokenizer_->Decode(result.tokens));
  // Recompute without the cache: the whole sequence each time, argmax of the last position.
  std::vector<int32_t> seq = prompt_;
  for (int32_t expected : result.tokens) {
    auto cache = *PagedKvCache::Create(model_->CacheShape(8, 16));
    ASSERT_TRUE(cache.AddSequence(0).ok());
    Tensor logits = *model_->Forward(*ctx_, seq, 0, cache);
    const float* last = logits.data<float>() + (logits.dim(0) - 1) * logits.dim(1);
    const int32_t argmax =
        static_cast<int32_t>(std::max_element(last, last + logits.dim(1)) - last);
    EXPECT_EQ(argmax, expected);
    seq.push_back(expected);
  }
}

TEST_F(GenerationTest, EndOfSequenceAndStopStringsEndIt) {
  const GenerationResult greedy = Run(Greedy(12));
  const GenerationResult eos = Run(Greedy(12), {greedy.tokens[0]});
  EXPECT_TRUE(eos.tokens.empty());
  EXPECT_EQ(eos.finish_reason, "stop");

  ASSERT_GE(greedy.text.size(), 4u);
  SamplingParams with_stop = Greedy(12);
  with_stop.stop = {greedy.text.substr(greedy.text.size() / 2, 2)};
  const GenerationResult stopped = Run(with_stop);
  EXPECT_EQ(stopped.finish_reason, "stop");
  EXPECT_EQ(stopped.text, greedy.text.substr(0, greedy.text.find(with_stop.stop[0])));
}

TEST_F(GenerationTest, SeededSamplingRepeats) {
  SamplingParams params;
  params.temperature = 0.8f;
  params.top_p = 0.9f;
  params.seed = 11;
  params.max_tokens = 8;
  EXPECT_EQ(Run(params).tokens, Run(params).tokens);
}

TEST_F(GenerationTest, PromptLongerThanTheContextIsAnError) {
  std::vector<int32_t> long_prompt(model_->config().max_position_embeddings, 5);
  auto result = Generate(*model_, *tokenizer_, *ctx_, long_prompt, Greedy(1), {}, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("the model's context is"));
}

}  // namespace
}  // namespace sy
