// Every dense-layer kernel against its CPU reference in core/dense on random data: RMSNorm (both
// forms, strided, per-head), RoPE (default, yarn, partial, both layouts), the row kernels, and
// paged attention over the same bf16-valued cache as sy::PagedAttention (prefill, chunked
// prefill and decode rows of several sequences in one launch, GQA, sliding window, sinks, long
// contexts), plus its replay from a CUDA graph. Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "core/dense/attention.h"
#include "core/dense/embedding.h"
#include "core/dense/paged_kv_cache.h"
#include "core/dense/rms_norm.h"
#include "core/dense/rope.h"
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

// Rows of `width` values out of a strided buffer, packed for the CPU references.
std::vector<float> Pack(const std::vector<float>& x, int64_t rows, int64_t width, int64_t stride) {
  std::vector<float> out(rows * width);
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(x.begin() + r * stride, width, out.begin() + r * width);
  return out;
}

Tensor PositionsTensor(const std::vector<int32_t>& positions) {
  Tensor t = *Tensor::Empty({static_cast<int64_t>(positions.size())}, DType::kI32);
  std::copy(positions.begin(), positions.end(), t.data<int32_t>());
  return t;
}

// ---- RMSNorm -------------------------------------------------------------------------------

void CheckRmsNormToBF16(int64_t rows, int64_t width) {
  const int64_t x_stride = width + 24, out_stride = width + 8;
  const float eps = 1e-6f;
  const std::vector<float> x = RandomF32(rows * x_stride, 2.0f, 1);
  const std::vector<float> weight = RandomF32(width, 1.5f, 2);
  const std::vector<uint16_t> sentinel(rows * out_stride, 0x7fc1);
  auto d_x = Upload(x), d_w = Upload(weight), d_out = Upload(sentinel);
  ASSERT_EQ(LaunchRmsNormToBF16(d_x->get<float>(), x_stride, rows, width, d_w->get<float>(), eps,
                                d_out->get<uint16_t>(), out_stride, nullptr),
            "");
  const std::vector<uint16_t> got = Download(d_out->get<uint16_t>(), sentinel.size());
  const Tensor want = *RmsNorm(*Tensor::FromF32({rows, width}, Pack(x, rows, width, x_stride)),
                               *Tensor::FromF32({width}, weight), eps);
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < out_stride; ++c) {
      const uint16_t g = got[r * out_stride + c];
      if (c >= width) {
        bad += g != 0x7fc1;  // the padding between rows stays untouched
        continue;
      }
      const double w = want.Get(r * width + c);
      // One bf16 rounding of nearly the same f32 value: within one bf16 ulp.
      if (std::abs(BF16ToF32(g) - w) > 1e-2 * std::abs(w) + 1e-6 && bad++ < 5) {
        ADD_FAILURE() << "width " << width << " row " << r << " col " << c << ": " << BF16ToF32(g)
                      << " vs " << w;
      }
    }
  }
  EXPECT_EQ(bad, 0) << "width " << width;
}

TEST(DenseKernelsTest, RmsNormToBF16MatchesReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckRmsNormToBF16(37, 64);    // a warp per row
  CheckRmsNormToBF16(37, 1000);  // a warp per row, ragged
  CheckRmsNormToBF16(19, 4096);  // a CTA per row
  CheckRmsNormToBF16(3, 5000);
  // Past what the float4 kernel holds in registers, or not a multiple of 4: the scalar passes.
  CheckRmsNormToBF16(3, 9000);
  CheckRmsNormToBF16(5, 4098);
  CheckRmsNormToBF16(9, 66);
}

void CheckRmsNormInPlace(int64_t rows, int64_t groups, int64_t width, int64_t row_stride) {
  const float eps = 1e-5f;
  const std::vector<float> x = RandomF32(rows * row_stride, 3.0f, 3);
  const std::vector<float> weight = RandomF32(width, 1.5f, 4);
  auto d_x = Upload(x), d_w = Upload(weight);
  ASSERT_EQ(LaunchRmsNormInPlace(d_x->get<float>(), row_stride, rows, groups, width,
                                 d_w->get<float>(), eps, nullptr),
            "");
  const std::vector<float> got = Download(d_x->get<float>(), x.size());
  const int64_t row_width = groups * width;
  const Tensor want =
      *RmsNormHeads(*Tensor::FromF32({rows, row_width}, Pack(x, rows, row_width, row_stride)),
                    *Tensor::FromF32({width}, weight), groups, eps);
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < row_stride; ++c) {
      const float g = got[r * row_stride + c];
      const double w = c < row_width ? want.Get(r * row_width + c) : x[r * row_stride + c];
      if (std::abs(g - w) > 1e-5 * std::abs(w) + 1e-6 && bad++ < 5) {
        ADD_FAILURE() << "groups " << groups << " width " << width << " row " << r << " col " << c
                      << ": " << g << " vs " << w;
      }
    }
  }
  EXPECT_EQ(bad, 0) << "groups " << groups << " width " << width;
}

TEST(DenseKernelsTest, RmsNormInPlaceMatchesReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  // Qwen3's q norm: the q part of a fused qkv row (6 q heads, 2 + 2 kv heads after it).
  CheckRmsNormInPlace(41, 6, 128, 10 * 128);
  CheckRmsNormInPlace(23, 1, 2048, 2048);     // OLMoE: the whole projection, a CTA per row
  CheckRmsNormInPlace(5, 3, 1536, 3 * 1536);  // several wide segments a row
}

// ---- RoPE ----------------------------------------------------------------------------------

void CheckRope(const RopeConfig& config, int64_t heads) {
  const int64_t rows = 50, head_dim = config.head_dim;
  const int64_t rotary_dim = config.rotary_dim == 0 ? head_dim : config.rotary_dim;
  const int64_t row_stride = (heads + 2) * head_dim;  // q of a fused qkv row
  const std::vector<float> x = RandomF32(rows * row_stride, 1.0f, 5);
  std::mt19937 rng(6);
  std::vector<int32_t> positions(rows);
  for (auto& p : positions) p = std::uniform_int_distribution<int32_t>(0, 4095)(rng);
  positions[0] = 0;
  const std::vector<double> freqs = *RopeInverseFrequencies(config);
  const std::vector<float> inv_freq(freqs.begin(), freqs.end());
  const float attention_factor = static_cast<float>(RopeAttentionFactor(config));
  auto d_x = Upload(x), d_pos = Upload(positions), d_freq = Upload(inv_freq);
  ASSERT_EQ(LaunchRope(d_x->get<float>(), row_stride, rows, heads, head_dim, rotary_dim,
                       d_pos->get<int32_t>(), d_freq->get<float>(), attention_factor,
                       config.interleaved, nullptr),
            "");
  const std::vector<float> got = Download(d_x->get<float>(), x.size());
  const int64_t row_width = heads * head_dim;
  const Tensor want = *Tensor::FromF32({rows, row_width}, Pack(x, rows, row_width, row_stride));
  ASSERT_TRUE(ApplyRope(config, PositionsTensor(positions), want, heads).ok());
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < row_stride; ++c) {
      const float g = got[r * row_stride + c];
      const double w = c < row_width ? want.Get(r * row_width + c) : x[r * row_stride + c];
      // The reference's angles are in double; an f32 angle near 4096 is off by ~5e-4.
      if (std::abs(g - w) > 2e-3 && bad++ < 5) {
        ADD_FAILURE() << config.scaling_type << (config.interleaved ? " interleaved" : "")
                      << " row " << r << " (position " << positions[r] << ") col " << c << ": " << g
                      << " vs " << w;
      }
    }
  }
  EXPECT_EQ(bad, 0) << config.scaling_type;
}

TEST(DenseKernelsTest, RopeMatchesReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckRope({.head_dim = 128, .theta = 1e6}, 4);
  CheckRope({.head_dim = 128, .theta = 1e6, .interleaved = true}, 4);
  // gpt-oss's yarn, both layouts.
  RopeConfig yarn{.head_dim = 64,
                  .theta = 150000,
                  .scaling_type = "yarn",
                  .factor = 32,
                  .original_max_position_embeddings = 4096,
                  .beta_fast = 32,
                  .beta_slow = 1};
  ASSERT_NE(RopeAttentionFactor(yarn), 1.0);
  CheckRope(yarn, 3);
  yarn.interleaved = true;
  CheckRope(yarn, 3);
  // Partial rotary: the last 64 lanes of each head pass through.
  CheckRope({.head_dim = 128, .theta = 10000, .rotary_dim = 64}, 2);
  CheckRope({.head_dim = 128, .theta = 10000, .rotary_dim = 64, .interleaved = true}, 2);
}

// ---- Row kernels ---------------------------------------------------------------------------

TEST(DenseKernelsTest, EmbeddingGatherMatchesReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 1000, width = 200;
  Tensor table = *Tensor::Empty({vocab, width}, DType::kBF16);
  const std::vector<float> values = RandomF32(vocab * width, 1.0f, 7);
  std::vector<uint16_t> table_bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) table_bits[i] = F32ToBF16(values[i]);
  std::copy(table_bits.begin(), table_bits.end(), table.data<uint16_t>());
  std::vector<int32_t> ids = {0, 999, 5, 5, -1, 1000, 17, 42, 999, 123};
  auto d_table = Upload(table_bits), d_ids = Upload(ids);
  DeviceMemory d_out(sizeof(float) * ids.size() * width);
  ASSERT_EQ(
      LaunchEmbeddingGatherBF16(d_table->get<uint16_t>(), vocab, width, d_ids->get<int32_t>(),
                                static_cast<int64_t>(ids.size()), d_out.get<float>(), nullptr),
      "");
  const std::vector<float> got = Download(d_out.get<float>(), ids.size() * width);
  for (size_t t = 0; t < ids.size(); ++t) {
    const bool valid = ids[t] >= 0 && ids[t] < vocab;
    const Tensor want = *Embed(PositionsTensor({valid ? ids[t] : 0}), table);
    for (int64_t c = 0; c < width; ++c) {
      ASSERT_EQ(got[t * width + c], valid ? want.Get(c) : 0.0) << "token " << t << " col " << c;
    }
  }
}

TEST(DenseKernelsTest, AddBiasAddsToEveryRow) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t rows = 9, width = 300, stride = 320;
  const std::vector<float> x = RandomF32(rows * stride, 1.0f, 8);
  const std::vector<float> bias = RandomF32(width, 1.0f, 9);
  auto d_x = Upload(x), d_bias = Upload(bias);
  ASSERT_EQ(LaunchAddBias(d_x->get<float>(), stride, rows, width, d_bias->get<float>(), nullptr),
            "");
  const std::vector<float> got = Download(d_x->get<float>(), x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < stride; ++c) {
      const float want = x[r * stride + c] + (c < width ? bias[c] : 0.0f);
      ASSERT_EQ(got[r * stride + c], want) << "row " << r << " col " << c;
    }
  }
}

// ---- The fused qkv prologue ------------------------------------------------------------------

struct PrologueCase {
  const char* name;
  int32_t heads, kv_heads, head_dim, rotary_dim;
  bool bias, norm, per_head, interleaved;
};

// The fused launch against the four launches it replaces (LaunchAddBias, LaunchRmsNormInPlace on
// q and k, LaunchRope, LaunchKvCacheWriteBF16) on the same rows: q in place and both caches,
// padding rows included. A norm's sum of squares may add in another order and a rotation's
// products contract differently: a few f32 ulps on q, at most a bf16 rounding flip in the
// caches.
void CheckPrologue(const PrologueCase& pc) {
  SCOPED_TRACE(pc.name);
  const int64_t tokens = 5, hd = pc.head_dim, q_width = pc.heads * hd, k_width = pc.kv_heads * hd,
                width = q_width + 2 * k_width, stride = width + 16, cache_rows = 16;
  const std::vector<float> qkv = RandomF32(tokens * stride, 2.0f, 31);
  const std::vector<float> bias = RandomF32(width, 0.5f, 32);
  const int64_t norm_width_q = pc.per_head ? hd : q_width,
                norm_width_k = pc.per_head ? hd : k_width;
  const std::vector<float> q_norm = RandomF32(norm_width_q, 1.5f, 33),
                           k_norm = RandomF32(norm_width_k, 1.5f, 34);
  const std::vector<int32_t> positions = {0, 7, 300, 4095, 12}, slots = {3, -1, 7, 0, 12};
  std::vector<float> inv_freq(pc.rotary_dim / 2);
  for (size_t i = 0; i < inv_freq.size(); ++i)
    inv_freq[i] = std::pow(10000.0f, -2.0f * static_cast<float>(i) / pc.rotary_dim);
  const std::vector<uint16_t> empty_cache(cache_rows * k_width, 0x7fc1);
  auto d_pos = Upload(positions), d_slots = Upload(slots), d_freq = Upload(inv_freq),
       d_bias = Upload(bias), d_qn = Upload(q_norm), d_kn = Upload(k_norm);
  const float eps = 1e-6f, factor = 1.0f;

  // The four launches.
  auto ref_qkv = Upload(qkv), ref_k = Upload(empty_cache), ref_v = Upload(empty_cache);
  float* r = ref_qkv->get<float>();
  if (pc.bias) {
    ASSERT_EQ(LaunchAddBias(r, stride, tokens, width, d_bias->get<float>(), nullptr), "");
  }
  if (pc.norm) {
    ASSERT_EQ(LaunchRmsNormInPlace(r, stride, tokens, q_width / norm_width_q, norm_width_q,
                                   d_qn->get<float>(), eps, nullptr),
              "");
    ASSERT_EQ(LaunchRmsNormInPlace(r + q_width, stride, tokens, k_width / norm_width_k,
                                   norm_width_k, d_kn->get<float>(), eps, nullptr),
              "");
  }
  ASSERT_EQ(
      LaunchRope(r, stride, tokens, pc.heads + pc.kv_heads, hd, pc.rotary_dim,
                 d_pos->get<int32_t>(), d_freq->get<float>(), factor, pc.interleaved, nullptr),
      "");
  ASSERT_EQ(LaunchKvCacheWriteBF16(r + q_width, stride, r + q_width + k_width, stride, tokens,
                                   k_width, d_slots->get<int32_t>(), ref_k->get<uint16_t>(),
                                   ref_v->get<uint16_t>(), nullptr),
            "");

  // The fused one.
  auto got_qkv = Upload(qkv), got_k = Upload(empty_cache), got_v = Upload(empty_cache);
  QkvPrologueArgs a;
  a.qkv = got_qkv->get<float>();
  a.tokens = tokens;
  a.stride = stride;
  a.heads = pc.heads;
  a.kv_heads = pc.kv_heads;
  a.head_dim = pc.head_dim;
  a.bias = pc.bias ? d_bias->get<float>() : nullptr;
  a.q_norm = pc.norm ? d_qn->get<float>() : nullptr;
  a.k_norm = pc.norm ? d_kn->get<float>() : nullptr;
  a.norm_per_head = pc.per_head;
  a.eps = eps;
  a.rotary_dim = pc.rotary_dim;
  a.positions = d_pos->get<int32_t>();
  a.inv_freq = d_freq->get<float>();
  a.attention_factor = factor;
  a.interleaved = pc.interleaved;
  a.slots = d_slots->get<int32_t>();
  a.k_cache = got_k->get<uint16_t>();
  a.v_cache = got_v->get<uint16_t>();
  ASSERT_EQ(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");

  const std::vector<float> want_q = Download(r, qkv.size()),
                           have_q = Download(got_qkv->get<float>(), qkv.size());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < q_width; ++c) {
      const float w = want_q[t * stride + c], g = have_q[t * stride + c];
      ASSERT_NEAR(g, w, 1e-5f * std::max(1.0f, std::abs(w))) << "token " << t << " q " << c;
    }
  }
  for (auto [want, have] :
       {std::pair{ref_k.get(), got_k.get()}, std::pair{ref_v.get(), got_v.get()}}) {
    const std::vector<uint16_t> w = Download(want->get<uint16_t>(), empty_cache.size()),
                                g = Download(have->get<uint16_t>(), empty_cache.size());
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 0x7fc1) {
        ASSERT_EQ(g[i], w[i]) << "cache element " << i;  // untouched slots stay untouched
      } else {
        ASSERT_NEAR(BF16ToF32(g[i]), BF16ToF32(w[i]), 8e-3f * std::abs(BF16ToF32(w[i])) + 1e-6f)
            << "cache element " << i;
      }
    }
  }
}

TEST(DenseKernelsTest, QkvPrologueMatchesTheLaunchesItReplaces) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const PrologueCase cases[] = {
      {"mixtral: rope and the cache write", 8, 2, 128, 128, false, false, true, false},
      {"qwen3: per-head q/k norms", 8, 2, 128, 128, false, true, true, false},
      {"olmoe: norms across the heads", 4, 4, 64, 64, false, true, false, false},
      {"qwen2: the qkv bias", 7, 1, 128, 128, true, false, true, false},
      {"partial interleaved rotary, bias and norms", 4, 2, 64, 32, true, true, true, true},
  };
  for (const PrologueCase& pc : cases) CheckPrologue(pc);
}

TEST(DenseKernelsTest, QkvPrologueRefusesWhatItCannotRun) {
  QkvPrologueArgs a;
  a.tokens = 1;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = 64;
  a.rotary_dim = 63;  // odd
  EXPECT_NE(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");
  a.rotary_dim = 128;  // wider than a head
  EXPECT_NE(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");
  a.head_dim = 512;  // more than a CTA's threads hold
  EXPECT_NE(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");
  a.head_dim = 64;
  a.rotary_dim = 64;
  const float weight = 1.0f;
  a.q_norm = &weight;  // without k's
  EXPECT_NE(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");
  a.tokens = 0;  // nothing to do: nothing launched
  EXPECT_EQ(LaunchQkvBiasNormRopeCacheWrite(a, nullptr), "");
}

TEST(DenseKernelsTest, KvCacheWriteFillsTheSlots) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t tokens = 20, width = 2 * 64, slots_total = 64 * 16;
  const int64_t k_stride = 3 * width, v_stride = 5 * width;
  const std::vector<float> k = RandomF32(tokens * k_stride, 2.0f, 10);
  const std::vector<float> v = RandomF32(tokens * v_stride, 2.0f, 11);
  std::vector<int32_t> slots(slots_total);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), std::mt19937(12));
  slots.resize(tokens);
  slots[7] = -1;  // padding: writes nothing
  const std::vector<uint16_t> sentinel(slots_total * width, 0x7fc1);
  auto d_k = Upload(k), d_v = Upload(v), d_slots = Upload(slots);
  auto d_kc = Upload(sentinel), d_vc = Upload(sentinel);
  ASSERT_EQ(LaunchKvCacheWriteBF16(d_k->get<float>(), k_stride, d_v->get<float>(), v_stride, tokens,
                                   width, d_slots->get<int32_t>(), d_kc->get<uint16_t>(),
                                   d_vc->get<uint16_t>(), nullptr),
            "");
  const std::vector<uint16_t> kc = Download(d_kc->get<uint16_t>(), sentinel.size());
  const std::vector<uint16_t> vc = Download(d_vc->get<uint16_t>(), sentinel.size());
  std::vector<uint16_t> want_k = sentinel, want_v = sentinel;
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    for (int64_t c = 0; c < width; ++c) {
      want_k[slots[t] * width + c] = F32ToBF16(k[t * k_stride + c]);
      want_v[slots[t] * width + c] = F32ToBF16(v[t * v_stride + c]);
    }
  }
  EXPECT_EQ(kc, want_k);
  EXPECT_EQ(vc, want_v);
}

TEST(DenseKernelsTest, GatherRowsCopiesTheChosenRows) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t width = 96;
  const std::vector<float> x = RandomF32(50 * width, 1.0f, 13);
  const std::vector<int32_t> rows = {49, 0, 7, 7, 31, 12, 49, 3};
  auto d_x = Upload(x), d_rows = Upload(rows);
  DeviceMemory d_out(sizeof(float) * rows.size() * width);
  ASSERT_EQ(LaunchGatherRowsF32(d_x->get<float>(), width, d_rows->get<int32_t>(),
                                static_cast<int64_t>(rows.size()), d_out.get<float>(), nullptr),
            "");
  const std::vector<float> got = Download(d_out.get<float>(), rows.size() * width);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int64_t c = 0; c < width; ++c) ASSERT_EQ(got[i * width + c], x[rows[i] * width + c]);
  }
}

TEST(DenseKernelsTest, EmptyBatchesLaunchNothing) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  EXPECT_EQ(LaunchEmbeddingGatherBF16(nullptr, 10, 8, nullptr, 0, nullptr, nullptr), "");
  EXPECT_EQ(LaunchRmsNormToBF16(nullptr, 8, 0, 8, nullptr, 1e-6f, nullptr, 8, nullptr), "");
  EXPECT_EQ(LaunchRmsNormInPlace(nullptr, 8, 0, 1, 8, nullptr, 1e-6f, nullptr), "");
  EXPECT_EQ(LaunchAddBias(nullptr, 8, 0, 8, nullptr, nullptr), "");
  EXPECT_EQ(LaunchRope(nullptr, 64, 0, 1, 64, 64, nullptr, nullptr, 1.0f, false, nullptr), "");
  EXPECT_EQ(
      LaunchKvCacheWriteBF16(nullptr, 8, nullptr, 8, 0, 8, nullptr, nullptr, nullptr, nullptr), "");
  EXPECT_EQ(LaunchGatherRowsF32(nullptr, 8, nullptr, 0, nullptr, nullptr), "");
  EXPECT_EQ(LaunchSampleRows({.vocab = 8}, nullptr), "");
  PagedAttentionArgs args{.q_stride = 512,
                          .max_blocks_per_sequence = 4,
                          .heads = 8,
                          .kv_heads = 2,
                          .head_dim = 64,
                          .block_size = 16};
  EXPECT_EQ(CheckPagedAttention(args), "");
  EXPECT_EQ(LaunchPagedAttention(args, nullptr), "");
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(DenseKernelsTest, PagedAttentionRejectsShapesItCannotRun) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const PagedAttentionArgs ok{.q_stride = 1024,
                              .max_blocks_per_sequence = 4,
                              .heads = 8,
                              .kv_heads = 2,
                              .head_dim = 128,
                              .block_size = 16};
  EXPECT_EQ(CheckPagedAttention(ok), "");
  PagedAttentionArgs a = ok;
  a.head_dim = 264;
  a.q_stride = 8 * 264;
  EXPECT_NE(CheckPagedAttention(a).find("head_dim 264"), std::string::npos);
  a = ok;
  a.head_dim = 100;
  EXPECT_NE(CheckPagedAttention(a).find("head_dim 100"), std::string::npos);
  a = ok;
  a.heads = 6;
  a.kv_heads = 4;
  EXPECT_NE(CheckPagedAttention(a).find("6 heads"), std::string::npos);
  a = ok;
  a.q_stride = 1000;
  EXPECT_NE(CheckPagedAttention(a).find("q_stride"), std::string::npos);
  a = ok;
  a.sliding_window = -1;
  EXPECT_NE(CheckPagedAttention(a).find("sliding_window"), std::string::npos);
  a = ok;
  a.tokens = 1;  // and no pointers
  EXPECT_NE(CheckPagedAttention(a).find("null"), std::string::npos);
  EXPECT_NE(LaunchPagedAttention(a, nullptr), "");
}

// ---- Paged attention -----------------------------------------------------------------------

struct AttentionCase {
  int32_t heads, kv_heads, head_dim, block_size, sliding_window;
  bool sinks;
  // (cached length, query rows at its end) per sequence: rows == length is a whole prefill,
  // 1 a decode step, anything between a chunk of prefill on a non-empty cache.
  std::vector<std::pair<int64_t, int64_t>> sequences;
};

// A host PagedKvCache and its bf16 device twin, the query rows of every sequence in one
// shuffled launch, and the reference for each sequence on its own.
struct AttentionRun {
  const AttentionCase& c;
  PagedKvCache cache;
  std::vector<int32_t> block_tables;  // [sequences, max_blocks], -1 past each table
  int32_t max_blocks = 0;
  std::vector<int32_t> row_sequence, row_position;
  std::vector<float> q;  // [tokens, q_stride]
  int64_t q_stride = 0;
  std::vector<std::vector<float>> want;  // per sequence [rows, heads * head_dim]
  std::vector<int64_t> first_row;        // per sequence: its rows' index in its reference
  std::vector<int64_t> row_in_sequence;  // per launch row

  explicit AttentionRun(const AttentionCase& attention_case)
      : c(attention_case), cache(MakeCache(attention_case)) {}

  static PagedKvCache MakeCache(const AttentionCase& c) {
    int64_t blocks = 8;
    for (const auto& [length, rows] : c.sequences)
      blocks += (length + c.block_size - 1) / c.block_size;
    return *PagedKvCache::Create({.num_layers = 1,
                                  .num_blocks = blocks,
                                  .block_size = c.block_size,
                                  .kv_heads = c.kv_heads,
                                  .head_dim = c.head_dim});
  }

  void Fill(uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t kv_width = int64_t{c.kv_heads} * c.head_dim;
    const int64_t num_sequences = static_cast<int64_t>(c.sequences.size());
    for (int64_t s = 0; s < num_sequences; ++s) ASSERT_TRUE(cache.AddSequence(s).ok());
    // A scratch sequence holds some blocks while the others start, then frees them for reuse,
    // and the others grow in turn by random chunks: every block table is out of order.
    ASSERT_TRUE(cache.AddSequence(1000).ok());
    ASSERT_TRUE(cache.Reserve(1000, 5 * c.block_size).ok());
    std::vector<int64_t> filled(num_sequences, 0);
    bool scratch_freed = false;
    for (bool more = true; more;) {
      more = false;
      for (int64_t s = 0; s < num_sequences; ++s) {
        const int64_t left = c.sequences[s].first - filled[s];
        if (left == 0) continue;
        const int64_t n =
            std::min(left, std::uniform_int_distribution<int64_t>(1, 3 * c.block_size)(rng));
        // Values rounded to bf16, so the f32 reference sees exactly what the kernel reads.
        std::vector<float> k = RandomF32(n * kv_width, 1.0f, rng());
        std::vector<float> v = RandomF32(n * kv_width, 1.0f, rng());
        for (float& x : k) x = BF16ToF32(F32ToBF16(x));
        for (float& x : v) x = BF16ToF32(F32ToBF16(x));
        ASSERT_TRUE(cache
                        .Append(s, 0, *Tensor::FromF32({n, kv_width}, k),
                                *Tensor::FromF32({n, kv_width}, v))
                        .ok());
        filled[s] += n;
        more = more || filled[s] < c.sequences[s].first;
      }
      if (!scratch_freed) {
        ASSERT_TRUE(cache.Free(1000).ok());
        scratch_freed = true;
      }
    }
    for (int64_t s = 0; s < num_sequences; ++s) {
      max_blocks = std::max(max_blocks, static_cast<int32_t>((*cache.BlockTable(s))->size()));
    }
    block_tables.assign(num_sequences * max_blocks, -1);
    for (int64_t s = 0; s < num_sequences; ++s) {
      const std::vector<int32_t>& table = **cache.BlockTable(s);
      std::copy(table.begin(), table.end(), block_tables.begin() + s * max_blocks);
    }

    // Query rows: q in [-3, 3] so the softmax is far from uniform, inside a fused qkv row.
    const int64_t q_width = int64_t{c.heads} * c.head_dim;
    q_stride = q_width + 2 * kv_width;
    std::vector<std::pair<int64_t, int64_t>> rows;  // (sequence, index among its rows)
    for (int64_t s = 0; s < num_sequences; ++s) {
      for (int64_t i = 0; i < c.sequences[s].second; ++i) rows.emplace_back(s, i);
    }
    std::shuffle(rows.begin(), rows.end(), rng);
    std::vector<std::vector<float>> q_by_sequence(num_sequences);
    for (int64_t s = 0; s < num_sequences; ++s)
      q_by_sequence[s] = RandomF32(c.sequences[s].second * q_width, 3.0f, rng());
    q.assign(rows.size() * q_stride, 0.0f);
    for (size_t t = 0; t < rows.size(); ++t) {
      const auto [s, i] = rows[t];
      row_sequence.push_back(static_cast<int32_t>(s));
      row_position.push_back(
          static_cast<int32_t>(c.sequences[s].first - c.sequences[s].second + i));
      row_in_sequence.push_back(i);
      std::copy_n(q_by_sequence[s].begin() + i * q_width, q_width, q.begin() + t * q_stride);
    }

    std::vector<float> sinks = RandomF32(c.heads, 2.0f, rng());
    AttentionOptions options{
        .scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim)),
        .sliding_window = c.sliding_window,
        .threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
    if (c.sinks) options.sinks = *Tensor::FromF32({c.heads}, sinks);
    sinks_ = c.sinks ? sinks : std::vector<float>();
    for (int64_t s = 0; s < num_sequences; ++s) {
      const Tensor out =
          *PagedAttention(*Tensor::FromF32({c.sequences[s].second, q_width}, q_by_sequence[s]),
                          c.heads, cache, s, 0, options);
      want.emplace_back(out.data<float>(), out.data<float>() + out.numel());
    }
  }

  // The kernel's output for all rows, bf16 [tokens, heads * head_dim]; `graph` replays it
  // from a captured CUDA graph instead of launching it directly.
  std::vector<uint16_t> Run(bool graph) {
    const int64_t tokens = static_cast<int64_t>(row_sequence.size());
    const int64_t q_width = int64_t{c.heads} * c.head_dim;
    // The cache as bf16 in the same layout (its values are bf16 already, so this is exact).
    const Tensor& k32 = cache.k(0);
    const Tensor& v32 = cache.v(0);
    std::vector<uint16_t> k(k32.numel()), v(v32.numel());
    for (int64_t i = 0; i < k32.numel(); ++i) k[i] = F32ToBF16(k32.data<float>()[i]);
    for (int64_t i = 0; i < v32.numel(); ++i) v[i] = F32ToBF16(v32.data<float>()[i]);
    auto d_q = Upload(q), d_k = Upload(k), d_v = Upload(v), d_tables = Upload(block_tables);
    auto d_seq = Upload(row_sequence), d_pos = Upload(row_position);
    auto d_sinks = Upload(sinks_.empty() ? std::vector<float>(1) : sinks_);
    DeviceMemory d_out(sizeof(uint16_t) * tokens * q_width);
    PagedAttentionArgs args{.q = d_q->get<float>(),
                            .q_stride = q_stride,
                            .k_cache = d_k->get<uint16_t>(),
                            .v_cache = d_v->get<uint16_t>(),
                            .block_tables = d_tables->get<int32_t>(),
                            .max_blocks_per_sequence = max_blocks,
                            .row_sequence = d_seq->get<int32_t>(),
                            .row_position = d_pos->get<int32_t>(),
                            .tokens = tokens,
                            .heads = c.heads,
                            .kv_heads = c.kv_heads,
                            .head_dim = c.head_dim,
                            .block_size = c.block_size,
                            .scale = static_cast<float>(1.0 / std::sqrt(c.head_dim)),
                            .sliding_window = c.sliding_window,
                            .sinks = sinks_.empty() ? nullptr : d_sinks->get<float>(),
                            .out = d_out.get<uint16_t>()};
    const size_t workspace_bytes = PagedAttentionWorkspaceBytes(args);
    DeviceMemory d_workspace(std::max<size_t>(workspace_bytes, 4));
    if (workspace_bytes > 0) args.workspace = d_workspace.get<float>();
    EXPECT_EQ(CheckPagedAttention(args), "");
    if (!graph) {
      EXPECT_EQ(LaunchPagedAttention(args, nullptr), "");
    } else {
      cudaStream_t stream;
      EXPECT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
      EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
      EXPECT_EQ(LaunchPagedAttention(args, stream), "");
      cudaGraph_t g;
      EXPECT_EQ(cudaStreamEndCapture(stream, &g), cudaSuccess);
      cudaGraphExec_t exec;
      EXPECT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
      EXPECT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(g);
      cudaStreamDestroy(stream);
    }
    return Download(d_out.get<uint16_t>(), tokens * q_width);
  }

  // Each (row, head) within 1% of that head's largest output value: bf16's rounding is 0.4%.
  void Check(const std::vector<uint16_t>& got) {
    const int64_t q_width = int64_t{c.heads} * c.head_dim;
    int bad = 0;
    for (size_t t = 0; t < row_sequence.size(); ++t) {
      const std::vector<float>& w = want[row_sequence[t]];
      for (int32_t h = 0; h < c.heads; ++h) {
        double err = 0, scale = 0;
        for (int32_t d = 0; d < c.head_dim; ++d) {
          const double g = BF16ToF32(got[t * q_width + h * c.head_dim + d]);
          const double x = w[row_in_sequence[t] * q_width + h * c.head_dim + d];
          err = std::max(err, std::isnan(g) ? INFINITY : std::abs(g - x));
          scale = std::max(scale, std::abs(x));
        }
        if (err > 1e-2 * scale + 1e-5 && bad++ < 5) {
          ADD_FAILURE() << "D " << c.head_dim << " row " << t << " (sequence " << row_sequence[t]
                        << " position " << row_position[t] << ") head " << h << ": error " << err
                        << " of " << scale;
        }
      }
    }
    EXPECT_EQ(bad, 0) << "(row, head) pairs off, head_dim " << c.head_dim;
  }

  std::vector<float> sinks_;
};

void CheckAttention(const AttentionCase& c, uint32_t seed) {
  AttentionRun run(c);
  run.Fill(seed);
  if (testing::Test::HasFatalFailure()) return;
  run.Check(run.Run(false));
}

// Prefill of 300 rows, a chunk of 40 rows on 460 cached, and decode rows from position 0 to
// 4095, in one launch.
const std::vector<std::pair<int64_t, int64_t>> kMixedBatch = {{300, 300}, {2000, 1}, {500, 40},
                                                              {1, 1},     {37, 1},   {4096, 1}};

TEST(DenseKernelsTest, PagedAttentionMixedBatchHeadDim128) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckAttention({8, 2, 128, 16, 0, false, kMixedBatch}, 20);
}

TEST(DenseKernelsTest, PagedAttentionMixedBatchHeadDim64WindowAndSinks) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckAttention({8, 2, 64, 16, 128, true, kMixedBatch}, 21);
  CheckAttention({8, 2, 64, 16, 0, true, kMixedBatch}, 22);
  CheckAttention({8, 2, 128, 16, 7, false, kMixedBatch}, 23);
}

TEST(DenseKernelsTest, PagedAttentionLongPrefill) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  // Every row of a 4096-token prompt, up to 4096 keys each.
  CheckAttention({8, 2, 64, 32, 0, false, {{4096, 4096}, {100, 1}}}, 24);
}

TEST(DenseKernelsTest, PagedAttentionOtherGroupsAndHeadDims) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  // 6 heads a group (a CTA of 8 with 2 idle), head_dim 96 (12 of 16 lanes a key).
  CheckAttention({12, 2, 96, 16, 0, true, {{200, 200}, {777, 1}, {64, 3}}}, 25);
  // 16 heads a group (two CTAs), head_dim 256, blocks of 8.
  CheckAttention({32, 2, 256, 8, 50, false, {{150, 150}, {1000, 2}}}, 26);
  // No grouping, head_dim 40 (5 of 8 lanes a key).
  CheckAttention({4, 4, 40, 16, 0, false, {{129, 129}, {333, 1}}}, 27);
  // Pairs, head_dim 8, a block per token.
  CheckAttention({4, 2, 8, 1, 0, true, {{70, 70}, {33, 1}}}, 28);
}

// Decode rows with few CTAs (4 rows x 2 kv heads) split their keys over CTAs and merge the
// splits: histories of 1 key (one split has keys), 100, 700 and 4096 (every split), with sinks
// (added at the merge) and a window. Few rows also deal a group's query heads over more CTAs.
TEST(DenseKernelsTest, PagedAttentionFewRowsSplitTheirKeys) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const std::vector<std::pair<int64_t, int64_t>> decode = {{4096, 1}, {1, 1}, {100, 1}, {700, 1}};
  const PagedAttentionArgs shape{.max_blocks_per_sequence = 256,
                                 .tokens = 4,
                                 .heads = 8,
                                 .kv_heads = 2,
                                 .head_dim = 128,
                                 .block_size = 16};
  EXPECT_GT(PagedAttentionWorkspaceBytes(shape), 0u);
  CheckAttention({8, 2, 128, 16, 0, false, decode}, 30);
  CheckAttention({8, 2, 64, 16, 0, true, decode}, 31);
  CheckAttention({8, 2, 128, 16, 300, true, decode}, 32);
  CheckAttention({32, 8, 128, 16, 0, false, decode}, 33);  // Mixtral's heads
  // Qwen3-30B-A3B's heads (groups of 8): 4 rows deal each group over 8 CTAs of one head, 16 rows
  // over 4 CTAs of two heads (CtaHeads), 64 rows keep the group in one CTA.
  CheckAttention({32, 4, 128, 16, 0, false, decode}, 34);
  for (int64_t rows : {16, 64}) {
    std::vector<std::pair<int64_t, int64_t>> many;
    for (int64_t i = 0; i < rows; ++i) many.emplace_back(37 * i + 1, 1);
    CheckAttention({32, 4, 128, 16, 0, false, many}, 35);
  }
}

// Without the workspace a split launch is refused by name rather than run (nothing is read:
// the pointers only need to be there).
TEST(DenseKernelsTest, PagedAttentionSplitWithoutWorkspaceIsRefused) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  DeviceMemory any(4096);
  const PagedAttentionArgs a{.q = any.get<float>(),
                             .q_stride = 1024,
                             .k_cache = any.get<uint16_t>(),
                             .v_cache = any.get<uint16_t>(),
                             .block_tables = any.get<int32_t>(),
                             .max_blocks_per_sequence = 64,
                             .row_sequence = any.get<int32_t>(),
                             .row_position = any.get<int32_t>(),
                             .tokens = 1,
                             .heads = 8,
                             .kv_heads = 2,
                             .head_dim = 128,
                             .block_size = 16,
                             .out = any.get<uint16_t>()};
  ASSERT_GT(PagedAttentionWorkspaceBytes(a), 0u);
  EXPECT_NE(LaunchPagedAttention(a, nullptr).find("PagedAttentionWorkspaceBytes"),
            std::string::npos);
}

TEST(DenseKernelsTest, PagedAttentionReplaysFromAGraph) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const AttentionCase c{8, 2, 128, 16, 0, true, {{1000, 1}, {64, 1}, {3, 3}}};
  AttentionRun run(c);
  run.Fill(29);
  if (testing::Test::HasFatalFailure()) return;
  const std::vector<uint16_t> direct = run.Run(false);
  run.Check(direct);
  EXPECT_EQ(run.Run(true), direct);
}

}  // namespace
}  // namespace sy::kernels
