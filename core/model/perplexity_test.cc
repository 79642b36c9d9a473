#include "core/model/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/model/language_model.h"

namespace sy {
namespace {

TEST(PerplexityTest, NegativeLogLikelihoodIsMinusLogSoftmax) {
  const float logits[3] = {1.0f, 2.0f, 3.0f};
  const double log_sum = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(NegativeLogLikelihood(logits, 3, 0), log_sum - 1.0, 1e-12);
  EXPECT_NEAR(NegativeLogLikelihood(logits, 3, 2), log_sum - 3.0, 1e-12);
}

// The built-in model's perplexity on its fixture prompt equals the one computed from
// transformers' logits for the same tokens (core/model/testdata/hf/hf_pydoc_moe.json).
class BuiltinModelPerplexityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    auto model = LanguageModel::Load(SY_TEST_SOURCE_DIR "/models/pydoc-moe", registry_, {}, *ctx_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  std::unique_ptr<LanguageModel> model_;
};

TEST_F(BuiltinModelPerplexityTest, MatchesTransformersLogits) {
  std::ifstream in(SY_TEST_SOURCE_DIR "/core/model/testdata/hf/hf_pydoc_moe.json");
  const auto fixture = nlohmann::json::parse(in);
  // The prompt followed by transformers' greedy continuation, scored in one window: the
  // fixture has logits for the prompt positions only, so those are the ones compared.
  const auto prompt = fixture["prompt"].get<std::vector<int32_t>>();
  const auto logits = fixture["logits"].get<std::vector<std::vector<float>>>();
  double expected = 0;
  for (size_t t = 0; t + 1 < prompt.size(); ++t) {
    expected += NegativeLogLikelihood(logits[t].data(), static_cast<int64_t>(logits[t].size()),
                                      prompt[t + 1]);
  }
  expected /= static_cast<double>(prompt.size() - 1);
  auto result = Perplexity(*model_->network, *ctx_, prompt, /*window=*/64);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->windows, 1);
  EXPECT_EQ(result->scored_tokens, static_cast<int64_t>(prompt.size()) - 1);
  EXPECT_NEAR(result->mean_nll, expected, 1e-4);
  EXPECT_NEAR(result->perplexity, std::exp(expected), 1e-3 * std::exp(expected));
}

TEST_F(BuiltinModelPerplexityTest, WindowsSplitTheStreamAndScoreAllButTheirFirstToken) {
  auto ids = model_->EncodeText(
      "The list type is a mutable sequence type. A tuple is an immutable sequence type.");
  ASSERT_TRUE(ids.ok());
  const int64_t n = static_cast<int64_t>(ids->size());
  auto result = Perplexity(*model_->network, *ctx_, *ids, /*window=*/4);
  ASSERT_TRUE(result.ok()) << result.status();
  const int64_t full = n / 4, rest = n % 4;
  EXPECT_EQ(result->windows, full + (rest >= 2 ? 1 : 0));
  EXPECT_EQ(result->scored_tokens, full * 3 + (rest >= 2 ? rest - 1 : 0));
  EXPECT_GT(result->perplexity, 1.0);
}

TEST_F(BuiltinModelPerplexityTest, RefusesBadWindowsAndTooFewTokens) {
  const std::vector<int32_t> ids = {1, 2, 3};
  EXPECT_FALSE(Perplexity(*model_->network, *ctx_, ids, 1).ok());
  EXPECT_FALSE(Perplexity(*model_->network, *ctx_, std::vector<int32_t>{1}, 8).ok());
  auto too_long = Perplexity(*model_->network, *ctx_, ids, 100000);
  EXPECT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("exceeds the model's context (1024)"),
            std::string::npos);
}

}  // namespace
}  // namespace sy
