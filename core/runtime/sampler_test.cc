#include "core/runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace sy {
namespace {

Sampler Make(SamplingParams params) {
  absl::StatusOr<Sampler> sampler = Sampler::Create(params);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return std::move(sampler).value();
}

// How often each id is drawn as the first token of `draws` samplers seeded 0, 1, 2, ...
std::map<int32_t, double> Frequencies(SamplingParams params, const std::vector<float>& logits,
                                      int draws = 4000) {
  std::map<int32_t, double> freq;
  for (int seed = 0; seed < draws; ++seed) {
    params.seed = static_cast<uint64_t>(seed);
    freq[Make(params).Sample(logits.data(), static_cast<int64_t>(logits.size()), {})] +=
        1.0 / draws;
  }
  return freq;
}

std::vector<float> LogProbs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(SamplerTest, ValidationNamesTheField) {
  auto error = [](auto change) {
    SamplingParams params;
    change(params);
    return std::string(params.Validate().message());
  };
  EXPECT_EQ(error([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(error([](SamplingParams& p) { p.top_p = 0; }), "top_p must be in (0, 1], got 0");
  EXPECT_EQ(error([](SamplingParams& p) { p.temperature = -1; }),
            "temperature must be >= 0 and finite, got -1");
  EXPECT_EQ(error([](SamplingParams& p) { p.top_k = -2; }),
            "top_k must be >= 0 (0 disables it), got -2");
  EXPECT_EQ(error([](SamplingParams& p) { p.min_p = 2; }), "min_p must be in [0, 1], got 2");
  EXPECT_EQ(error([](SamplingParams& p) { p.repetition_penalty = 0; }),
            "repetition_penalty must be > 0 and finite, got 0");
  EXPECT_EQ(error([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens must be > 0, got 0");
  EXPECT_EQ(error([](SamplingParams& p) { p.stop = {"a", ""}; }), "stop[1] is empty");
  EXPECT_EQ(error([](SamplingParams&) {}), "");
  SamplingParams bad;
  bad.top_p = 1.5f;
  EXPECT_FALSE(Sampler::Create(bad).ok());
}

TEST(SamplerTest, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams params;
  params.temperature = 0;
  Sampler sampler = Make(params);
  const std::vector<float> logits = {1, 3, 3, 2};
  EXPECT_EQ(sampler.Sample(logits.data(), 4, {}), 1);
  const std::vector<float> with_nan = {NAN, -1, 5, NAN};
  EXPECT_EQ(sampler.Sample(with_nan.data(), 4, {}), 2);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams params;
  params.temperature = 0;
  params.repetition_penalty = 2;
  Sampler sampler = Make(params);
  // 2.0 -> 1.0 (once, although it repeats), so 1.5 wins.
  const std::vector<float> positive = {2.0f, 1.5f, -1.0f};
  EXPECT_EQ(sampler.Sample(positive.data(), 3, {0, 0, 0}), 1);
  EXPECT_EQ(sampler.Sample(positive.data(), 3, {}), 0);
  // -0.6 -> -1.2, below -1.0.
  const std::vector<float> negative = {-1.0f, -0.6f};
  EXPECT_EQ(sampler.Sample(negative.data(), 2, {1}), 0);
  EXPECT_EQ(sampler.Sample(negative.data(), 2, {7, -3}), 1);  // out-of-range ids are ignored
}

TEST(SamplerTest, TemperatureScalesTheDistribution) {
  SamplingParams params;
  const std::vector<float> logits = {0.0f, std::log(2.0f)};
  EXPECT_NEAR(Frequencies(params, logits)[1], 2.0 / 3, 0.03);
  params.temperature = 0.5f;  // odds squared: 4 to 1
  EXPECT_NEAR(Frequencies(params, logits)[1], 0.8, 0.03);
}

TEST(SamplerTest, TopKKeepsTheKBest) {
  SamplingParams params;
  params.top_k = 2;
  auto freq = Frequencies(params, {0, 1, 2, 3, 4});
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq[4], std::exp(1.0) / (1 + std::exp(1.0)), 0.03);
  EXPECT_NEAR(freq[3], 1 / (1 + std::exp(1.0)), 0.03);
}

TEST(SamplerTest, TopPKeepsTheSmallestNucleus) {
  SamplingParams params;
  params.top_p = 0.75f;  // 0.5 + 0.3 reaches it
  auto freq = Frequencies(params, LogProbs({0.3, 0.5, 0.05, 0.15}));
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq[1], 0.5 / 0.8, 0.03);
  EXPECT_NEAR(freq[0], 0.3 / 0.8, 0.03);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  SamplingParams params;
  params.min_p = 0.25f;  // threshold 0.125: 0.05 goes
  auto freq = Frequencies(params, LogProbs({0.5, 0.3, 0.15, 0.05}));
  EXPECT_EQ(freq.size(), 3u);
  EXPECT_EQ(freq.count(3), 0u);
  EXPECT_NEAR(freq[0], 0.5 / 0.95, 0.03);
}

TEST(SamplerTest, CutsCombine) {
  SamplingParams params;
  params.top_k = 3;
  params.top_p = 0.9f;
  params.min_p = 0.4f;
  // top-k keeps 0..2 (renormalized 0.5/0.9, 0.25/0.9, 0.15/0.9); top-p keeps all three
  // (0.75/0.9 < 0.9); min-p drops 2 (0.15 < 0.4 * 0.5).
  auto freq = Frequencies(params, LogProbs({0.5, 0.25, 0.15, 0.1}), 2000);
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq[0], 2.0 / 3, 0.04);
}

TEST(SamplerTest, DeterministicPerSeed) {
  SamplingParams params;
  params.seed = 1234;
  const std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  auto run = [&](uint64_t seed) {
    params.seed = seed;
    Sampler sampler = Make(params);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 64; ++i) tokens.push_back(sampler.Sample(logits.data(), 8, tokens));
    return tokens;
  };
  EXPECT_EQ(run(1234), run(1234));
  EXPECT_NE(run(1234), run(1235));
  // The stream is fixed by the algorithm (splitmix64), not by the standard library.
  const std::vector<int32_t> golden = run(7);
  EXPECT_EQ(std::vector<int32_t>(golden.begin(), golden.begin() + 8),
            (std::vector<int32_t>{5, 7, 1, 4, 5, 6, 5, 6}));
}

// A step taken elsewhere (the GPU's sampler drew it) moves the stream as a Sample call would: the
// next Sample draws what the second of two Sample calls draws.
TEST(SamplerTest, TakeStepAdvancesTheStreamAsSampleDoes) {
  const std::vector<float> logits(1000, 0.0f);  // uniform: the draw alone picks the token
  SamplingParams params;
  params.seed = 42;
  Sampler both = Make(params), skipped = Make(params);
  both.Sample(logits.data(), 1000, {});
  const int32_t second = both.Sample(logits.data(), 1000, {});
  EXPECT_EQ(skipped.TakeStep(), 0u);
  EXPECT_EQ(skipped.Sample(logits.data(), 1000, {}), second);
  EXPECT_EQ(skipped.TakeStep(), 2u);
  Sampler fresh = Make(params);
  EXPECT_NE(fresh.Sample(logits.data(), 1000, {}), second);  // steps 0 and 1 differ here
}

}  // namespace
}  // namespace sy
