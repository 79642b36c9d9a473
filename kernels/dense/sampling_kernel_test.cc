// sm90_sample_rows_radix_select against the CPU's Sampler (core/runtime/sampler.h): greedy rows
// with planted ties, NaN and infinities; random logits under random parameter sets (temperature,
// top-k, top-p, min-p, repetition penalty) at vocabularies around the CTA's and the cluster's
// widths and the large ones of Qwen (151,936) and gpt-oss (201,088); logits with many exactly
// equal scores, so the cuts fall inside runs of ties; and a seed's random stream step by step.
// Every case must give the CPU's token: the kernel computes the same f64 probabilities and only
// sums them in another order, so a mismatch would need a draw within ~1e-15 of a boundary.
// Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/runtime/sampler.h"
#include "kernels/cuda_test_support.h"
#include "kernels/dense/dense_cuda.h"

namespace sy::kernels {
namespace {

using test_support::DeviceMemory;
using test_support::Download;
using test_support::HaveGpu;
using test_support::Upload;

// One draw: a logits row of the batch, the parameters, the tokens so far and the step.
struct Draw {
  int32_t logits_row = 0;
  SamplingParams params;
  std::vector<int32_t> history{};
  uint64_t step = 0;
};

// What Sampler::Sample returns for `d` at its step (the earlier steps drawn and discarded).
int32_t CpuToken(const std::vector<float>& logits, int64_t vocab, const Draw& d) {
  absl::StatusOr<Sampler> sampler = Sampler::Create(d.params);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  const float* row = logits.data() + d.logits_row * vocab;
  int32_t token = -1;
  for (uint64_t s = 0; s <= d.step; ++s) token = sampler->Sample(row, vocab, d.history);
  return token;
}

std::vector<int32_t> GpuTokens(const std::vector<float>& logits, int64_t vocab,
                               const std::vector<Draw>& draws) {
  std::vector<SamplingRow> rows;
  std::vector<int32_t> history;
  for (const Draw& d : draws) {
    rows.push_back({.seed = d.params.seed,
                    .step = d.step,
                    .logits_row = d.logits_row,
                    .temperature = d.params.temperature,
                    .top_k = d.params.top_k,
                    .top_p = d.params.top_p,
                    .min_p = d.params.min_p,
                    .repetition_penalty = d.params.repetition_penalty,
                    .history_begin = static_cast<int32_t>(history.size()),
                    .history_length = static_cast<int32_t>(d.history.size())});
    history.insert(history.end(), d.history.begin(), d.history.end());
  }
  history.push_back(0);  // never an empty upload
  auto d_logits = Upload(logits), d_history = Upload(history);
  DeviceMemory d_rows(sizeof(SamplingRow) * rows.size());
  EXPECT_EQ(cudaMemcpy(d_rows.get(), rows.data(), sizeof(SamplingRow) * rows.size(),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  DeviceMemory d_out(sizeof(int32_t) * rows.size());
  const SampleRowsArgs args{.logits = d_logits->get<float>(),
                            .vocab = vocab,
                            .rows = d_rows.get<SamplingRow>(),
                            .count = static_cast<int64_t>(rows.size()),
                            .history = d_history->get<int32_t>(),
                            .out = d_out.get<int32_t>()};
  EXPECT_EQ(LaunchSampleRows(args, nullptr), "");
  return Download(d_out.get<int32_t>(), rows.size());
}

std::string Describe(const Draw& d) {
  const SamplingParams& p = d.params;
  return "row " + std::to_string(d.logits_row) + ": temperature " + std::to_string(p.temperature) +
         ", top_k " + std::to_string(p.top_k) + ", top_p " + std::to_string(p.top_p) + ", min_p " +
         std::to_string(p.min_p) + ", penalty " + std::to_string(p.repetition_penalty) + ", seed " +
         std::to_string(p.seed) + ", step " + std::to_string(d.step) + ", history " +
         std::to_string(d.history.size());
}

void ExpectCpuTokens(const std::vector<float>& logits, int64_t vocab,
                     const std::vector<Draw>& draws) {
  const std::vector<int32_t> got = GpuTokens(logits, vocab, draws);
  ASSERT_EQ(got.size(), draws.size());
  for (size_t i = 0; i < draws.size(); ++i) {
    EXPECT_EQ(got[i], CpuToken(logits, vocab, draws[i]))
        << "vocab " << vocab << ", " << Describe(draws[i]);
  }
}

// Logits ~ N(0, scale): a few tokens stand out, as in a model's output.
std::vector<float> NormalLogits(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Random parameters over the ranges Validate accepts, each filter on in about half the draws.
Draw RandomDraw(int32_t row, int64_t vocab, std::mt19937& rng) {
  const auto pick = [&](auto values) { return values[rng() % values.size()]; };
  Draw d;
  d.logits_row = row;
  d.params.temperature = pick(std::vector<float>{0.0f, 0.3f, 0.7f, 1.0f, 1.0f, 1.6f});
  d.params.top_k = pick(std::vector<int32_t>{0, 0, 1, 5, 40, 1000});
  d.params.top_p = pick(std::vector<float>{1.0f, 1.0f, 0.95f, 0.8f, 0.5f, 0.1f});
  d.params.min_p = pick(std::vector<float>{0.0f, 0.0f, 0.02f, 0.1f, 0.5f});
  d.params.repetition_penalty = pick(std::vector<float>{1.0f, 1.0f, 1.3f, 0.7f});
  d.params.seed = (static_cast<uint64_t>(rng()) << 32) | rng();
  d.step = rng() % 4;
  const int64_t history = pick(std::vector<int64_t>{0, 3, 200});
  std::uniform_int_distribution<int64_t> id(0, vocab - 1);
  for (int64_t h = 0; h < history; ++h) d.history.push_back(static_cast<int32_t>(id(rng)));
  if (!d.history.empty()) d.history.push_back(d.history.front());  // a repeat counts once
  return d;
}

void ExpectRandomDrawsMatch(int64_t vocab, int64_t rows, int64_t draws_per_row, float scale,
                            uint32_t seed) {
  const std::vector<float> logits = NormalLogits(rows * vocab, scale, seed);
  std::mt19937 rng(seed + 1);
  std::vector<Draw> draws;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < draws_per_row; ++i) {
      draws.push_back(RandomDraw(static_cast<int32_t>(r), vocab, rng));
    }
  }
  ExpectCpuTokens(logits, vocab, draws);
}

TEST(SamplingKernelTest, GreedyIsTheCpuArgmax) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t rows = 9, vocab = 151936;
  std::vector<float> logits = NormalLogits(rows * vocab, 3.0f, 14);
  auto row = [&](int64_t r) { return logits.begin() + r * vocab; };
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  row(1)[90000] = row(1)[1234] = 50.0f;  // a tie far apart: the earlier wins
  std::fill(row(2), row(2) + vocab, 0.0f);
  row(2)[77] = -0.0f;  // -0 equals +0: still index 0
  row(3)[vocab - 1] = 100.0f;
  std::fill(row(4), row(4) + vocab, -inf);
  row(5)[1025] = row(5)[3000] = row(5)[1024] = 20.0f;  // a tie between neighbouring threads
  std::fill(row(6), row(6) + vocab, nan);              // all NaN: the CPU's loop ends last
  row(7)[0] = nan;                                     // NaN never wins
  row(7)[5] = 40.0f;
  row(8)[300] = inf;
  std::vector<Draw> draws;
  for (int32_t r = 0; r < rows; ++r)
    draws.push_back({.logits_row = r, .params = {.temperature = 0}});
  const std::vector<int32_t> got = GpuTokens(logits, vocab, draws);
  EXPECT_EQ(got[1], 1234);
  EXPECT_EQ(got[2], 0);
  EXPECT_EQ(got[3], vocab - 1);
  EXPECT_EQ(got[4], 0);
  EXPECT_EQ(got[5], 1024);
  EXPECT_EQ(got[6], vocab - 1);
  EXPECT_EQ(got[7], 5);
  EXPECT_EQ(got[8], 300);
  ExpectCpuTokens(logits, vocab, draws);
}

TEST(SamplingKernelTest, RepetitionPenaltyChangesTheArgmaxAsOnTheCpu) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 1000;
  std::vector<float> logits(vocab, -1.0f);
  logits[10] = 3.0f;   // penalized by 2: 1.5
  logits[20] = 2.0f;   // the new argmax
  logits[30] = -0.5f;  // penalized the other way: -1.0
  std::vector<Draw> draws = {
      {.params = {.temperature = 0, .repetition_penalty = 2.0f}, .history = {10, 10, 30}},
      {.params = {.temperature = 0, .repetition_penalty = 1.2f}, .history = {10, 10}},
      {.params = {.temperature = 0, .repetition_penalty = 2.0f}, .history = {-1, 5000}},
      {.params = {.temperature = 0, .repetition_penalty = 0.5f}, .history = {20}}};
  const std::vector<int32_t> got = GpuTokens(logits, vocab, draws);
  EXPECT_EQ(got[0], 20);
  EXPECT_EQ(got[1], 10);  // 2.5 still beats 2
  EXPECT_EQ(got[2], 10);  // ids outside the vocabulary penalize nothing
  EXPECT_EQ(got[3], 20);  // a penalty below 1 favours: 4
  ExpectCpuTokens(logits, vocab, draws);
}

TEST(SamplingKernelTest, OneSeedsStreamStepByStep) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 32000;
  const std::vector<float> logits = NormalLogits(vocab, 1.0f, 3);  // flat: the draw decides
  std::vector<Draw> draws;
  for (uint64_t step = 0; step < 64; ++step) {
    draws.push_back({.params = {.temperature = 1.0f, .seed = 1234}, .step = step});
  }
  const std::vector<int32_t> got = GpuTokens(logits, vocab, draws);
  absl::StatusOr<Sampler> cpu = Sampler::Create(draws[0].params);
  ASSERT_TRUE(cpu.ok());
  std::set<int32_t> distinct;
  for (uint64_t step = 0; step < 64; ++step) {
    EXPECT_EQ(got[step], cpu->Sample(logits.data(), vocab, {})) << "step " << step;
    distinct.insert(got[step]);
  }
  EXPECT_GT(distinct.size(), 32u);  // the steps draw different numbers
}

// Around a CTA's 512 threads and a row's cluster of 8 CTAs (4,096 threads).
TEST(SamplingKernelTest, RandomParametersMatchTheCpuAroundTheCtaAndClusterWidths) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  for (int64_t vocab : {1, 2, 7, 511, 512, 513, 1000, 4095, 4096, 4097, 4099, 8193}) {
    ExpectRandomDrawsMatch(vocab, 16, 8, 2.0f, static_cast<uint32_t>(vocab));
  }
}

TEST(SamplingKernelTest, RandomParametersMatchTheCpuAtModelVocabularies) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  ExpectRandomDrawsMatch(32000, 64, 4, 3.0f, 1);
  ExpectRandomDrawsMatch(151936, 16, 8, 3.0f, 2);
  ExpectRandomDrawsMatch(201088, 16, 8, 3.0f, 3);
}

TEST(SamplingKernelTest, CutsInsideRunsOfEqualScoresFollowTheIdOrder) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  // Scores on a grid of 0.5: thousands of tokens share each score, so top-k, top-p and the draw
  // all end inside a run of ties, which the CPU orders by id.
  const int64_t vocab = 50000, rows = 8;
  std::vector<float> logits = NormalLogits(rows * vocab, 2.0f, 9);
  for (float& x : logits) x = std::round(x * 2.0f) / 2.0f;
  std::mt19937 rng(10);
  std::vector<Draw> draws;
  for (int32_t r = 0; r < rows; ++r) {
    for (int i = 0; i < 16; ++i) draws.push_back(RandomDraw(r, vocab, rng));
    draws.push_back({.logits_row = r, .params = {.top_k = 1500, .seed = 7}});
    draws.push_back({.logits_row = r, .params = {.top_p = 0.3f, .seed = 8}});
  }
  ExpectCpuTokens(logits, vocab, draws);
}

TEST(SamplingKernelTest, InfinitiesAndNaNAsOnTheCpu) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 3000, rows = 4;
  std::vector<float> logits = NormalLogits(rows * vocab, 1.0f, 11);
  auto row = [&](int64_t r) { return logits.begin() + r * vocab; };
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < vocab; i += 3) row(0)[i] = -inf;  // masked tokens are never drawn
  for (int64_t i = 1; i < vocab; i += 5) row(1)[i] = nan;
  row(2)[2000] = inf;  // certain
  row(2)[2500] = inf;
  std::fill(row(3), row(3) + vocab, -inf);
  row(3)[17] = nan;
  std::vector<Draw> draws;
  for (int32_t r = 0; r < rows; ++r) {
    for (uint64_t step = 0; step < 8; ++step) {
      draws.push_back({.logits_row = r, .params = {.temperature = 1.5f, .seed = 5}, .step = step});
    }
  }
  const std::vector<int32_t> got = GpuTokens(logits, vocab, draws);
  for (size_t i = 0; i < draws.size(); ++i) {
    const int32_t r = draws[i].logits_row;
    if (r == 0) {
      EXPECT_NE(got[i] % 3, 0) << "a -inf token was drawn";
    } else if (r == 1) {
      EXPECT_FALSE(std::isnan(row(1)[got[i]])) << "a NaN token was drawn";
    } else {
      EXPECT_EQ(got[i], r == 2 ? 2000 : 0);  // +inf is certain; all -inf: the first
    }
  }
  ExpectCpuTokens(logits, vocab, draws);
}

TEST(SamplingKernelTest, RefusesWhatItCannotRun) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  EXPECT_EQ(LaunchSampleRows({.vocab = 8, .count = 0}, nullptr), "");
  EXPECT_NE(LaunchSampleRows({.vocab = MaxSamplingVocab() + 1, .count = 1}, nullptr), "");
  EXPECT_NE(LaunchSampleRows({.vocab = 0, .count = 1}, nullptr), "");
  EXPECT_GE(MaxSamplingVocab(), 1 << 20);
}

}  // namespace
}  // namespace sy::kernels
