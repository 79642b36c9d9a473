#include "core/dense/mla_attention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sy {
namespace {

using ::testing::HasSubstr;

constexpr MlaShape kShape{
    .heads = 3, .kv_lora_rank = 12, .qk_nope_head_dim = 8, .qk_rope_head_dim = 4, .v_head_dim = 6};

Tensor Random(const Shape& shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> v(NumElements(shape));
  for (float& x : v) x = normal(rng);
  return *Tensor::FromF32(shape, v);
}

// A latent cache of 2 layers with `tokens` random latents in layer 1 of sequence 7, spread over
// blocks of 4 so the block table is exercised.
PagedKvCache FilledCache(int64_t tokens) {
  auto cache = *PagedKvCache::Create(MlaCacheShape(kShape, 2, 8, 4));
  EXPECT_TRUE(cache.AddSequence(7).ok());
  EXPECT_TRUE(cache.Append(7, 1, Random({tokens, kShape.latent_width()}, 3), Tensor()).ok());
  return cache;
}

// transformers' computation in double: expand keys and values per head, then attend.
std::vector<double> Reference(const Tensor& q, const Tensor& kv_b, const Tensor& latents,
                              double scale) {
  const MlaShape& m = kShape;
  const int64_t n = q.dim(0), length = latents.dim(0), kv_row = m.qk_nope_head_dim + m.v_head_dim;
  std::vector<double> out(n * m.heads * m.v_head_dim, 0.0);
  for (int64_t h = 0; h < m.heads; ++h) {
    // keys [length, qk] and values [length, v] of head h
    std::vector<double> keys(length * m.qk_head_dim()), values(length * m.v_head_dim);
    for (int64_t j = 0; j < length; ++j) {
      for (int64_t d = 0; d < kv_row; ++d) {
        double acc = 0;
        for (int64_t r = 0; r < m.kv_lora_rank; ++r) {
          acc += kv_b.Get((h * kv_row + d) * m.kv_lora_rank + r) *
                 latents.Get(j * m.latent_width() + r);
        }
        if (d < m.qk_nope_head_dim) {
          keys[j * m.qk_head_dim() + d] = acc;
        } else {
          values[j * m.v_head_dim + d - m.qk_nope_head_dim] = acc;
        }
      }
      for (int64_t d = 0; d < m.qk_rope_head_dim; ++d) {
        keys[j * m.qk_head_dim() + m.qk_nope_head_dim + d] =
            latents.Get(j * m.latent_width() + m.kv_lora_rank + d);
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = length - n + i;
      std::vector<double> s(p + 1);
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j <= p; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < m.qk_head_dim(); ++d) {
          dot += q.Get(i * m.heads * m.qk_head_dim() + h * m.qk_head_dim() + d) *
                 keys[j * m.qk_head_dim() + d];
        }
        s[j] = dot * scale;
        max = std::max(max, s[j]);
      }
      for (double& x : s) sum += (x = std::exp(x - max));
      for (int64_t j = 0; j <= p; ++j) {
        for (int64_t d = 0; d < m.v_head_dim; ++d) {
          out[(i * m.heads + h) * m.v_head_dim + d] += s[j] / sum * values[j * m.v_head_dim + d];
        }
      }
    }
  }
  return out;
}

TEST(MlaAttentionTest, AbsorbedAndNaivePathsMatchTheExpandedReference) {
  const int64_t tokens = 10, n = 3;
  PagedKvCache cache = FilledCache(tokens);
  const Tensor q = Random({n, kShape.heads * kShape.qk_head_dim()}, 5);
  const Tensor kv_b = Random(
      {kShape.heads * (kShape.qk_nope_head_dim + kShape.v_head_dim), kShape.kv_lora_rank}, 6);
  const Tensor latents = Random({tokens, kShape.latent_width()}, 3);
  const double scale = 0.25;
  const std::vector<double> expected = Reference(q, kv_b, latents, scale);
  for (MlaPath path : {MlaPath::kNaive, MlaPath::kAbsorbed}) {
    auto out =
        MlaAttention(q, kv_b, kShape, cache, 7, 1, {.scale = scale, .path = path, .threads = 2});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->shape(), (Shape{n, kShape.heads * kShape.v_head_dim}));
    for (int64_t i = 0; i < out->numel(); ++i) {
      EXPECT_NEAR(out->Get(i), expected[i], 1e-4) << "element " << i;
    }
  }
}

TEST(MlaAttentionTest, DecodeStepAbsorbedEqualsNaive) {
  PagedKvCache cache = FilledCache(9);
  const Tensor q = Random({1, kShape.heads * kShape.qk_head_dim()}, 8);
  const Tensor kv_b = Random(
      {kShape.heads * (kShape.qk_nope_head_dim + kShape.v_head_dim), kShape.kv_lora_rank}, 9);
  Tensor naive =
      *MlaAttention(q, kv_b, kShape, cache, 7, 1, {.scale = 0.3, .path = MlaPath::kNaive});
  Tensor absorbed =
      *MlaAttention(q, kv_b, kShape, cache, 7, 1, {.scale = 0.3, .path = MlaPath::kAbsorbed});
  for (int64_t i = 0; i < naive.numel(); ++i) EXPECT_NEAR(naive.Get(i), absorbed.Get(i), 1e-5);
}

TEST(MlaAttentionTest, LatentCacheStoresRankPlusRopeFloatsPerToken) {
  // DeepSeek-V3: 61 layers, 128 heads, kv_lora_rank 512, rope 64, nope 128, v 128.
  const MlaShape v3{.heads = 128,
                    .kv_lora_rank = 512,
                    .qk_nope_head_dim = 128,
                    .qk_rope_head_dim = 64,
                    .v_head_dim = 128};
  const KvCacheShape latent = MlaCacheShape(v3, 61, 1, 16);
  EXPECT_FALSE(latent.has_values);
  EXPECT_EQ(latent.BytesPerToken(), 61 * 576 * 4);
  // The same attention with full per-head keys (192) and values (128) cached.
  KvCacheShape full{
      .num_layers = 61, .num_blocks = 1, .block_size = 16, .kv_heads = 128, .head_dim = 192};
  const int64_t full_bytes = 61 * 128 * (192 + 128) * 4;
  EXPECT_EQ(full.BytesPerToken(), 61 * 128 * 192 * 2 * 4);  // K and V of one head_dim
  EXPECT_NEAR(static_cast<double>(full_bytes) / latent.BytesPerToken(), 71.1, 0.05);

  PagedKvCache cache = *PagedKvCache::Create(MlaCacheShape(kShape, 1, 2, 4));
  EXPECT_EQ(cache.k(0).numel(), 2 * 4 * kShape.latent_width());
}

TEST(MlaAttentionTest, RefusesAFullCacheAndBadShapes) {
  auto full = *PagedKvCache::Create({.num_layers = 1,
                                     .num_blocks = 1,
                                     .block_size = 4,
                                     .kv_heads = 1,
                                     .head_dim = kShape.latent_width()});
  ASSERT_TRUE(full.AddSequence(0).ok());
  const Tensor q = Random({1, kShape.heads * kShape.qk_head_dim()}, 1);
  const Tensor kv_b = Random(
      {kShape.heads * (kShape.qk_nope_head_dim + kShape.v_head_dim), kShape.kv_lora_rank}, 2);
  auto status = MlaAttention(q, kv_b, kShape, full, 0, 0, {.scale = 1}).status();
  EXPECT_THAT(status.message(), HasSubstr("latent cache"));

  PagedKvCache cache = FilledCache(2);
  const Tensor wrong_rank = Random({kv_b.dim(0), kShape.kv_lora_rank + 1}, 2);
  status = MlaAttention(q, wrong_rank, kShape, cache, 7, 1, {.scale = 1}).status();
  EXPECT_THAT(status.message(), HasSubstr("kv_lora_rank 12"));
  // A latent cache refuses values.
  EXPECT_FALSE(cache
                   .Append(7, 0, Random({1, kShape.latent_width()}, 1),
                           Random({1, kShape.latent_width()}, 1))
                   .ok());
}

}  // namespace
}  // namespace sy
