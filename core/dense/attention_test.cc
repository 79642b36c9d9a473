#include "core/dense/attention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sy {
namespace {

constexpr int64_t kHeads = 4;
constexpr int64_t kKvHeads = 2;
constexpr int64_t kHeadDim = 8;

// A sequence's whole K and V history, kept densely beside the cache as the reference's input.
struct History {
  std::vector<float> k, v;  // [tokens, kKvHeads * kHeadDim]
};

std::vector<float> Random(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Dense causal GQA in double: q [n, kHeads * kHeadDim] for the last n tokens of `h`.
std::vector<double> Reference(const std::vector<float>& q, const History& h, double scale,
                              int64_t window) {
  const int64_t kv_width = kKvHeads * kHeadDim;
  const int64_t length = static_cast<int64_t>(h.k.size()) / kv_width;
  const int64_t n = static_cast<int64_t>(q.size()) / (kHeads * kHeadDim);
  std::vector<double> out(q.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = length - n + i;
    for (int64_t head = 0; head < kHeads; ++head) {
      const int64_t kvh = head / (kHeads / kKvHeads);
      std::vector<double> s;
      const int64_t first = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      for (int64_t j = first; j <= p; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < kHeadDim; ++d) {
          dot += static_cast<double>(q[(i * kHeads + head) * kHeadDim + d]) *
                 h.k[j * kv_width + kvh * kHeadDim + d];
        }
        s.push_back(dot * scale);
      }
      const double m = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      for (int64_t j = first; j <= p; ++j) {
        for (int64_t d = 0; d < kHeadDim; ++d) {
          out[(i * kHeads + head) * kHeadDim + d] +=
              s[j - first] / sum * h.v[j * kv_width + kvh * kHeadDim + d];
        }
      }
    }
  }
  return out;
}

// Largest |got - want| relative to the largest |want|.
double RelativeError(const Tensor& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(got.Get(i) - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

// Appends n random tokens to `sequence`, runs attention over them and checks it.
void Step(PagedKvCache& cache, int64_t sequence, History& h, int64_t n, std::mt19937& rng,
          const AttentionOptions& options) {
  const int64_t kv_width = kKvHeads * kHeadDim;
  const std::vector<float> k = Random(n * kv_width, rng);
  const std::vector<float> v = Random(n * kv_width, rng);
  const std::vector<float> q = Random(n * kHeads * kHeadDim, rng);
  ASSERT_TRUE(cache
                  .Append(sequence, 0, *Tensor::FromF32({n, kv_width}, k),
                          *Tensor::FromF32({n, kv_width}, v))
                  .ok());
  h.k.insert(h.k.end(), k.begin(), k.end());
  h.v.insert(h.v.end(), v.begin(), v.end());
  absl::StatusOr<Tensor> out = PagedAttention(*Tensor::FromF32({n, kHeads * kHeadDim}, q), kHeads,
                                              cache, sequence, 0, options);
  ASSERT_TRUE(out.ok()) << out.status();
  const double scale = options.scale.value_or(1 / std::sqrt(static_cast<double>(kHeadDim)));
  EXPECT_LT(RelativeError(*out, Reference(q, h, scale, options.sliding_window)), 1e-5)
      << "sequence " << sequence << " at length " << h.k.size() / kv_width;
}

PagedKvCache MakeCache() {
  return *PagedKvCache::Create(
      {.num_blocks = 32, .block_size = 4, .kv_heads = kKvHeads, .head_dim = kHeadDim});
}

// Two sequences prefill and then decode in turn, so their blocks interleave in the pool and
// each spans several blocks.
void RunInterleaved(const AttentionOptions& options) {
  PagedKvCache cache = MakeCache();
  std::mt19937 rng(42);
  History a, b;
  ASSERT_TRUE(cache.AddSequence(10).ok());
  ASSERT_TRUE(cache.AddSequence(20).ok());
  Step(cache, 10, a, 7, rng, options);
  Step(cache, 20, b, 5, rng, options);
  for (int step = 0; step < 6; ++step) {
    Step(cache, 10, a, 1, rng, options);
    Step(cache, 20, b, 1, rng, options);
  }
  Step(cache, 10, a, 3, rng, options);  // a second chunk of prefill on a non-empty cache
  const std::vector<int32_t>& table = **cache.BlockTable(10);
  EXPECT_EQ(table.size(), 4u);  // 16 tokens
  bool contiguous = true;       // sequence 20 took blocks in between, so it must not be
  for (size_t i = 1; i < table.size(); ++i) contiguous = contiguous && table[i] == table[i - 1] + 1;
  EXPECT_FALSE(contiguous);
}

TEST(AttentionTest, PagedMatchesDenseReferenceForPrefillAndDecode) { RunInterleaved({}); }

TEST(AttentionTest, ThreadedMatchesToo) { RunInterleaved({.threads = 3}); }

TEST(AttentionTest, ScaleOverride) { RunInterleaved({.scale = 0.5, .threads = 2}); }

TEST(AttentionTest, SlidingWindowMasksOldTokens) {
  RunInterleaved({.sliding_window = 3, .threads = 2});
  RunInterleaved({.sliding_window = 1});  // only itself: the output is its own V
}

TEST(AttentionTest, SinksTakeProbabilityMassWithoutValue) {
  // One cached token k = (1, 0), v = (2, 4); two query heads q = (1, 0), scale 1: score 1.
  auto cache = *PagedKvCache::Create(
      {.num_layers = 1, .num_blocks = 1, .block_size = 4, .kv_heads = 1, .head_dim = 2});
  ASSERT_TRUE(cache.AddSequence(0).ok());
  ASSERT_TRUE(
      cache.Append(0, 0, *Tensor::FromF32({1, 2}, {1, 0}), *Tensor::FromF32({1, 2}, {2, 4})).ok());
  const Tensor q = *Tensor::FromF32({1, 4}, {1, 0, 1, 0});
  AttentionOptions options{.scale = 1.0, .sinks = *Tensor::FromF32({2}, {0.0f, 1.0f})};
  Tensor out = *PagedAttention(q, 2, cache, 0, 0, options);
  const double p0 = std::exp(1.0) / (std::exp(1.0) + 1.0);  // head 0: sink logit 0
  EXPECT_NEAR(out.Get(0), 2 * p0, 1e-6);
  EXPECT_NEAR(out.Get(1), 4 * p0, 1e-6);
  EXPECT_NEAR(out.Get(2), 2 * 0.5, 1e-6);  // head 1: sink logit 1 = the score
  EXPECT_NEAR(out.Get(3), 4 * 0.5, 1e-6);
  options.sinks = *Tensor::FromF32({3}, {0, 0, 0});
  EXPECT_THAT(PagedAttention(q, 2, cache, 0, 0, options).status().message(),
              testing::HasSubstr("one per head"));
}

TEST(AttentionTest, RejectsBadShapes) {
  PagedKvCache cache = MakeCache();
  ASSERT_TRUE(cache.AddSequence(1).ok());
  Tensor kv = *Tensor::Zeros({2, kKvHeads * kHeadDim}, DType::kF32);
  ASSERT_TRUE(cache.Append(1, 0, kv, kv).ok());
  Tensor q3 = *Tensor::Zeros({1, 3 * kHeadDim}, DType::kF32);
  EXPECT_THAT(PagedAttention(q3, 3, cache, 1, 0).status().message(),
              testing::HasSubstr("3 heads is not a multiple of 2 kv heads"));
  Tensor q = *Tensor::Zeros({3, kHeads * kHeadDim}, DType::kF32);
  EXPECT_THAT(PagedAttention(q, kHeads, cache, 1, 0).status().message(),
              testing::HasSubstr("more rows than the 2 tokens"));
  EXPECT_EQ(PagedAttention(q, kHeads, cache, 2, 0).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sy
