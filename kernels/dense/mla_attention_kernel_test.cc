// sm90_mla_attention_absorbed_mma against core/dense's MlaAttention (the absorbed CPU path): the
// same bf16-valued latent cache, the query absorbed through W_UK on the host, the kernel's latent
// output mapped through W_UV on the host. Mixed batches (prefill, chunked prefill, decode rows
// of several sequences in one launch), a head count that is not a multiple of the CTA's, and a
// DeepSeek-V3-sized decode whose keys split over CTAs. Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/dense/mla_attention.h"
#include "core/dense/paged_kv_cache.h"
#include "kernels/cuda_test_support.h"
#include "kernels/dense/dense_cuda.h"
#include "switchyard/dtype.hpp"

namespace sy::kernels {
namespace {

using test_support::DeviceMemory;
using test_support::Download;
using test_support::HaveGpu;
using test_support::RandomF32;
using test_support::Upload;

struct MlaCase {
  MlaShape shape;
  int32_t block_size;
  std::vector<std::pair<int64_t, int64_t>> sequences;  // (cached length, query rows at its end)
  bool expect_split;
  int expect_splits = 0;  // when set, exactly this many splits (the workspace holds them)
};

// 20 heads: a CTA of 16 and one of 4. DeepSeek-V3's own attention shape.
const MlaShape kSmallShape{.heads = 20,
                           .kv_lora_rank = 64,
                           .qk_nope_head_dim = 32,
                           .qk_rope_head_dim = 16,
                           .v_head_dim = 24};
const MlaShape kDeepSeekV3Shape{.heads = 128,
                                .kv_lora_rank = 512,
                                .qk_nope_head_dim = 128,
                                .qk_rope_head_dim = 64,
                                .v_head_dim = 128};

float RoundBf16(float x) { return BF16ToF32(F32ToBF16(x)); }

void CheckMla(const MlaCase& c, uint32_t seed) {
  const MlaShape& m = c.shape;
  const int64_t heads = m.heads, rank = m.kv_lora_rank, rope = m.qk_rope_head_dim,
                nope = m.qk_nope_head_dim, vd = m.v_head_dim, qk = m.qk_head_dim(),
                width = m.latent_width();
  std::mt19937 rng(seed);
  int64_t blocks = 4;
  for (const auto& [length, rows] : c.sequences)
    blocks += (length + c.block_size - 1) / c.block_size;
  PagedKvCache cache = *PagedKvCache::Create(MlaCacheShape(m, 1, blocks, c.block_size));
  const int64_t n_seq = static_cast<int64_t>(c.sequences.size());
  // Sequences grow in turns, so their block tables interleave.
  for (int64_t s = 0; s < n_seq; ++s) ASSERT_TRUE(cache.AddSequence(s).ok());
  std::vector<int64_t> filled(n_seq, 0);
  for (bool more = true; more;) {
    more = false;
    for (int64_t s = 0; s < n_seq; ++s) {
      const int64_t n = std::min<int64_t>(c.sequences[s].first - filled[s], 2 * c.block_size + 3);
      if (n == 0) continue;
      std::vector<float> latent = RandomF32(n * width, 1.0f, rng());
      for (float& x : latent) x = RoundBf16(x);
      ASSERT_TRUE(cache.Append(s, 0, *Tensor::FromF32({n, width}, latent), Tensor()).ok());
      filled[s] += n;
      more = more || filled[s] < c.sequences[s].first;
    }
  }
  std::vector<float> kv_b = RandomF32(heads * (nope + vd) * rank, 0.2f, rng());
  for (float& x : kv_b) x = RoundBf16(x);
  const double scale = 1.0 / std::sqrt(static_cast<double>(qk));

  // Rows of all sequences in one launch; the reference per sequence.
  int32_t max_blocks = 0;
  for (int64_t s = 0; s < n_seq; ++s)
    max_blocks = std::max(max_blocks, static_cast<int32_t>((*cache.BlockTable(s))->size()));
  std::vector<int32_t> tables(n_seq * max_blocks, 0), row_sequence, row_position;
  std::vector<float> q_absorbed, want;
  for (int64_t s = 0; s < n_seq; ++s) {
    const std::vector<int32_t>& table = **cache.BlockTable(s);
    std::copy(table.begin(), table.end(), tables.begin() + s * max_blocks);
    const auto [length, rows] = c.sequences[s];
    std::vector<float> q = RandomF32(rows * heads * qk, 2.0f, rng());
    const Tensor out = *MlaAttention(*Tensor::FromF32({rows, heads * qk}, q),
                                     *Tensor::FromF32({heads * (nope + vd), rank}, kv_b), m, cache,
                                     s, 0, {.scale = scale, .path = MlaPath::kAbsorbed});
    want.insert(want.end(), out.data<float>(), out.data<float>() + out.numel());
    for (int64_t i = 0; i < rows; ++i) {
      row_sequence.push_back(static_cast<int32_t>(s));
      row_position.push_back(static_cast<int32_t>(length - rows + i));
      for (int64_t h = 0; h < heads; ++h) {
        const float* q_h = q.data() + (i * heads + h) * qk;
        const float* w_uk = kv_b.data() + h * (nope + vd) * rank;  // [nope, rank]
        for (int64_t r = 0; r < rank; ++r) {
          double acc = 0;
          for (int64_t k = 0; k < nope; ++k) acc += double{q_h[k]} * w_uk[k * rank + r];
          q_absorbed.push_back(static_cast<float>(acc));
        }
        q_absorbed.insert(q_absorbed.end(), q_h + nope, q_h + qk);
      }
    }
  }
  const int64_t tokens = static_cast<int64_t>(row_sequence.size());
  std::vector<uint16_t> cache_bf16(cache.k(0).numel());
  for (size_t i = 0; i < cache_bf16.size(); ++i)
    cache_bf16[i] = F32ToBF16(cache.k(0).data<float>()[i]);

  auto d_q = Upload(q_absorbed);
  auto d_cache = Upload(cache_bf16);
  auto d_tables = Upload(tables);
  auto d_seq = Upload(row_sequence);
  auto d_pos = Upload(row_position);
  DeviceMemory d_out(tokens * heads * rank * sizeof(uint16_t));
  MlaAttentionArgs args{.q = d_q->get<float>(),
                        .q_stride = heads * width,
                        .cache = d_cache->get<uint16_t>(),
                        .block_tables = d_tables->get<int32_t>(),
                        .max_blocks_per_sequence = max_blocks,
                        .row_sequence = d_seq->get<int32_t>(),
                        .row_position = d_pos->get<int32_t>(),
                        .tokens = tokens,
                        .heads = static_cast<int32_t>(heads),
                        .kv_lora_rank = static_cast<int32_t>(rank),
                        .rope_dim = static_cast<int32_t>(rope),
                        .block_size = c.block_size,
                        .scale = static_cast<float>(scale),
                        .out = d_out.get<uint16_t>()};
  ASSERT_EQ(CheckMlaAttention(args), "");
  const size_t workspace_bytes = MlaAttentionWorkspaceBytes(args);
  EXPECT_EQ(workspace_bytes > 0, c.expect_split);
  if (c.expect_splits > 0) {
    EXPECT_EQ(workspace_bytes, sizeof(float) * tokens * c.expect_splits * heads * (rank + 2));
  }
  DeviceMemory workspace(workspace_bytes);
  args.workspace = workspace_bytes > 0 ? workspace.get<float>() : nullptr;
  ASSERT_EQ(LaunchMlaAttention(args, nullptr), "");
  const std::vector<uint16_t> latent_out = Download(d_out.get<uint16_t>(), tokens * heads * rank);

  double worst = 0, peak = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* w_uv = kv_b.data() + (h * (nope + vd) + nope) * rank;  // [v, rank]
      for (int64_t i = 0; i < vd; ++i) {
        double got = 0;
        for (int64_t r = 0; r < rank; ++r)
          got += double{w_uv[i * rank + r]} * BF16ToF32(latent_out[(t * heads + h) * rank + r]);
        const double expected = want[(t * heads + h) * vd + i];
        worst = std::max(worst, std::abs(got - expected));
        peak = std::max(peak, std::abs(expected));
      }
    }
  }
  // The kernel rounds its output to bf16 (2^-9 relative) before W_UV sums rank of them.
  EXPECT_LT(worst, 1e-2 * peak) << "largest difference " << worst << ", peak " << peak;
}

TEST(MlaAttentionKernelTest, MixedBatchMatchesTheAbsorbedReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckMla({.shape = kSmallShape,
            .block_size = 16,
            .sequences = {{37, 37}, {90, 1}, {130, 5}, {3, 1}, {300, 300}},
            .expect_split = false},
           1);
}

TEST(MlaAttentionKernelTest, FewRowsSplitTheirKeysOverCtas) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckMla({.shape = kSmallShape,
            .block_size = 16,
            .sequences = {{37, 37}, {90, 1}, {130, 5}, {3, 1}},
            .expect_split = true},
           3);
}

TEST(MlaAttentionKernelTest, DeepSeekV3DecodeSplitsItsKeysOverCtas) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckMla({.shape = kDeepSeekV3Shape,
            .block_size = 16,
            .sequences = {{1000, 1}, {77, 1}},
            .expect_split = true},
           2);
}

// One decode row: its tiles spread one a split (257 cached tokens in 17 blocks of 16: 9 tiles,
// the last holding only the row's own token; 8 CTAs of 16 heads leave room for all 9 splits on
// any GPU of 36 SMs or more).
TEST(MlaAttentionKernelTest, OneRowSplitsDownToOneTileASplit) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckMla({.shape = kDeepSeekV3Shape,
            .block_size = 16,
            .sequences = {{257, 1}},
            .expect_split = true,
            .expect_splits = 9},
           4);
}

TEST(MlaAttentionKernelTest, RejectsShapesItCannotRun) {
  MlaAttentionArgs ok{.q_stride = 16 * 576,
                      .max_blocks_per_sequence = 1,
                      .heads = 16,
                      .kv_lora_rank = 512,
                      .rope_dim = 64,
                      .block_size = 16};
  EXPECT_EQ(CheckMlaAttention(ok), "");
  MlaAttentionArgs a = ok;
  a.kv_lora_rank = 1024;
  a.q_stride = 16 * 1088;
  EXPECT_NE(CheckMlaAttention(a).find("kv_lora_rank 1024"), std::string::npos);
  a = ok;
  a.rope_dim = 60;  // a latent row of 572 lanes: not whole 16-byte copies
  EXPECT_NE(CheckMlaAttention(a).find("a multiple of 8"), std::string::npos);
  a = ok;
  a.q_stride = 100;
  EXPECT_NE(CheckMlaAttention(a).find("q_stride"), std::string::npos);
}

}  // namespace
}  // namespace sy::kernels
