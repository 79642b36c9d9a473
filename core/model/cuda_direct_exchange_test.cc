// The direct exchange's kernels (kernels/moe/expert_parallel_direct.h) between two ranks played
// in one process: each rank's peer memory is device memory both reach, and each rank's kernels
// run on its own stream, at once. What arrives is checked against the host's own placement code
// (ExpertPlacement::AssignReplicas, the collective path's) and the combined sums against f32
// additions in rank order. Skips without a GPU. (Two real processes over comm.nvlink:
// expert_parallel_cuda_test.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/moe/expert_parallel.h"
#include "core/moe/expert_placement.h"
#include "kernels/cuda_test_support.h"
#include "kernels/moe/expert_parallel_direct.h"
#include "kernels/moe/moe_cuda.h"
#include "switchyard/dtype.hpp"

namespace sy {
namespace {

using kernels::test_support::DeviceMemory;
using kernels::test_support::Download;
using kernels::test_support::HaveGpu;
using kernels::test_support::RandomF32;
using kernels::test_support::Upload;

constexpr int kWorld = 2;
constexpr int kTopK = 3;
constexpr int kExperts = 6;
constexpr int kSlotsPerRank = 4;
// Experts 1 and 5 have a replica on each rank.
const std::vector<int32_t> kSlots = {0, 1, 2, 5, 3, 4, 5, 1};
// Rank 0's 300 pairs make each thread of a CTA count turns over more than one stride.
const std::vector<int64_t> kTokens = {100, 37};

uint16_t Bf16Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return static_cast<uint16_t>(bits >> 16);
}

// One rank's memory: what its peers write into, and its own.
struct RankMemory {
  RankMemory(int64_t rows, int64_t own_tokens, int64_t hidden)
      : flags(sizeof(kernels::DirectFlags)),
        x(rows * hidden * 2),
        ids(rows * kTopK * 4),
        weights(rows * kTopK * 4),
        returned(kWorld * own_tokens * hidden * 4),
        local(256 + 4 * own_tokens) {
    EXPECT_EQ(cudaMemset(flags.get(), 0, sizeof(kernels::DirectFlags)), cudaSuccess);
    EXPECT_EQ(cudaMemset(local.get(), 0, 256), cudaSuccess);
  }
  kernels::DirectRankAreas Areas() const {
    return {flags.get<kernels::DirectFlags>(), x.get<uint8_t>(), ids.get<int32_t>(),
            weights.get<float>(), returned.get<float>()};
  }
  DeviceMemory flags, x, ids, weights, returned, local;
};

class CudaDirectExchangeKernelTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    if (!HaveGpu()) GTEST_SKIP() << "no GPU";
    for (auto& base : seq_base_) {
      base = std::make_unique<DeviceMemory>(sizeof(unsigned long long));
      ASSERT_EQ(cudaMemset(base->get(), 0, sizeof(unsigned long long)), cudaSuccess);
    }
    ASSERT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&error_), sizeof(int), cudaHostAllocMapped),
              cudaSuccess);
    *error_ = 0;
    for (auto& s : streams_) ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), 0);
  }
  void TearDown() override {
    for (auto& s : streams_) cudaStreamDestroy(s);
    if (error_ != nullptr) cudaFreeHost(error_);
  }

  // The exchange as rank `rank` sees it, over `memory` (every rank's), at layer 1 of the step.
  kernels::DirectExchange Exchange(int rank, const std::vector<std::unique_ptr<RankMemory>>& memory,
                                   int64_t hidden) const {
    kernels::DirectExchange ex;
    ex.rank = rank;
    ex.world = kWorld;
    ex.hidden = hidden;
    ex.payload_bytes = 2 * hidden;  // bf16
    ex.top_k = kTopK;
    for (int q = 0; q < kWorld; ++q) {
      ex.row_begin[q + 1] = ex.row_begin[q] + kTokens[q];
      ex.areas[q] = memory[q]->Areas();
    }
    ex.seq_base = seq_base_[rank]->get<unsigned long long>();
    ex.layer = 1;
    ex.timeout_ns = 20'000'000'000ull;
    ex.arrived = memory[rank]->local.get<unsigned int>();
    ex.sent_mask = reinterpret_cast<uint32_t*>(memory[rank]->local.get<char>() + 256);
    ex.error = error_;
    return ex;
  }

  int* error_ = nullptr;
  cudaStream_t streams_[kWorld] = {};
  std::unique_ptr<DeviceMemory> seq_base_[kWorld];  // each rank's (zero: step 0)
};

// Every rank's tokens of one layer (bf16 x, k distinct experts, some dropped: -1, weights), the
// placement that routes them, and each rank's experts' sums (any values) of every row.
struct Layer {
  explicit Layer(int64_t hidden)
      : placement(*ExpertPlacement::Create({{.num_layers = 1,
                                             .num_experts = kExperts,
                                             .num_ranks = kWorld,
                                             .slots_per_rank = kSlotsPerRank},
                                            kSlots})) {
    const std::vector<int32_t> begin = {0, 1, 3, 4, 5, 6, 8};  // experts 1 and 5: two replicas
    std::vector<int32_t> replica_slots;
    for (int32_t e = 0; e < kExperts; ++e) {
      for (int32_t s : placement.replicas(0, e)) replica_slots.push_back(s);
    }
    EXPECT_EQ(std::ssize(replica_slots), begin.back());
    d_begin = Upload(begin);
    d_slots = Upload(replica_slots);
    std::mt19937 rng(7);
    const int64_t rows = kTokens[0] + kTokens[1];
    for (int q = 0; q < kWorld; ++q) {
      for (float v : RandomF32(kTokens[q] * hidden, 1.0f, 11 + q)) x[q].push_back(Bf16Bits(v));
      for (int64_t t = 0; t < kTokens[q]; ++t) {
        std::vector<int32_t> experts = {0, 1, 2, 3, 4, 5};
        std::shuffle(experts.begin(), experts.end(), rng);
        for (int j = 0; j < kTopK; ++j) ids[q].push_back(rng() % 5 == 0 ? -1 : experts[j]);
      }
      weights[q] = RandomF32(kTokens[q] * kTopK, 1.0f, 21 + q);
      sums[q] = RandomF32(rows * hidden, 1.0f, 41 + q);
      d_x[q] = Upload(x[q]);
      d_ids[q] = Upload(ids[q]);
      d_weights[q] = Upload(weights[q]);
      d_sums[q] = Upload(sums[q]);
    }
  }

  // Draws every rank's sums again, into the same device memory (which a captured combine reads).
  void DrawSums(uint32_t seed) {
    for (int q = 0; q < kWorld; ++q) {
      sums[q] = RandomF32(std::ssize(sums[q]), 1.0f, seed + q);
      EXPECT_EQ(cudaMemcpy(d_sums[q]->get(), sums[q].data(), sums[q].size() * sizeof(float),
                           cudaMemcpyHostToDevice),
                cudaSuccess);
    }
  }

  kernels::DirectDispatchArgs Args(int q) const {
    return {.payload = d_x[q]->get<uint8_t>(),
            .ids = d_ids[q]->get<int32_t>(),
            .weights = d_weights[q]->get<float>(),
            .slots_per_rank = kSlotsPerRank,
            .replica_begin = d_begin->get<int32_t>(),
            .replica_slots = d_slots->get<int32_t>()};
  }
  // Rank src's pairs as slots: the host's own placement code (the replica on the token's own
  // rank first).
  std::vector<int32_t> Slots(int src) const {
    std::vector<int32_t> slots(ids[src].size());
    placement.AssignReplicas(0, ids[src], src, slots);
    return slots;
  }
  // out[src] after the combine adds, to `before`, the sums of the ranks its tokens went to, in
  // rank order.
  std::vector<float> Combined(int src, std::vector<float> before, int64_t hidden) const {
    const std::vector<int32_t> slots = Slots(src);
    const int64_t first = src == 0 ? 0 : kTokens[0];
    for (int64_t t = 0; t < kTokens[src]; ++t) {
      for (int q = 0; q < kWorld; ++q) {
        bool sent = false;
        for (int j = 0; j < kTopK; ++j) {
          const int32_t slot = slots[t * kTopK + j];
          sent |= slot >= 0 && slot / kSlotsPerRank == q;
        }
        if (!sent) continue;
        for (int64_t c = 0; c < hidden; ++c) {
          before[t * hidden + c] += sums[q][(first + t) * hidden + c];
        }
      }
    }
    return before;
  }

  ExpertPlacement placement;
  std::unique_ptr<DeviceMemory> d_begin, d_slots;
  std::vector<uint16_t> x[kWorld];
  std::vector<int32_t> ids[kWorld];
  std::vector<float> weights[kWorld], sums[kWorld];
  std::unique_ptr<DeviceMemory> d_x[kWorld], d_ids[kWorld], d_weights[kWorld], d_sums[kWorld];
};

TEST_P(CudaDirectExchangeKernelTest, TwoRanksGetTheCollectivePathsRowsAndSums) {
  const int64_t hidden = GetParam();
  const int64_t rows = kTokens[0] + kTokens[1];
  const Layer layer(hidden);
  std::vector<std::unique_ptr<RankMemory>> memory;
  for (int q = 0; q < kWorld; ++q)
    memory.push_back(std::make_unique<RankMemory>(rows, kTokens[q], hidden));
  for (int q = 0; q < kWorld; ++q) {
    const kernels::DirectExchange ex = Exchange(q, memory, hidden);
    ASSERT_EQ(kernels::LaunchDirectDispatch(ex, layer.Args(q), streams_[q]), "");
    ASSERT_EQ(kernels::LaunchDirectWait(ex, streams_[q]), "");
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(*error_, 0);

  // What each rank received: row (src, t) holds src's token t with its local slot ids here.
  for (int src = 0; src < kWorld; ++src) {
    const std::vector<int32_t> slots = layer.Slots(src);
    for (int q = 0; q < kWorld; ++q) {
      const int64_t first = src == 0 ? 0 : kTokens[0];
      const auto got_ids =
          Download(memory[q]->ids.get<int32_t>() + first * kTopK, kTokens[src] * kTopK);
      const auto got_w =
          Download(memory[q]->weights.get<float>() + first * kTopK, kTokens[src] * kTopK);
      const auto got_x =
          Download(memory[q]->x.get<uint16_t>() + first * hidden, kTokens[src] * hidden);
      for (int64_t t = 0; t < kTokens[src]; ++t) {
        bool any = false;
        for (int j = 0; j < kTopK; ++j) {
          const int32_t slot = slots[t * kTopK + j];
          const bool here = slot >= 0 && slot / kSlotsPerRank == q;
          any |= here;
          SCOPED_TRACE(::testing::Message()
                       << "rank " << q << " from " << src << " token " << t << " pair " << j);
          EXPECT_EQ(got_ids[t * kTopK + j], here ? slot - q * kSlotsPerRank : -1);
          EXPECT_EQ(got_w[t * kTopK + j], here ? layer.weights[src][t * kTopK + j] : 0.0f);
        }
        if (!any) continue;
        for (int64_t c = 0; c < hidden; ++c) {
          ASSERT_EQ(got_x[t * hidden + c], layer.x[src][t * hidden + c])
              << "rank " << q << " token " << t;
        }
      }
    }
  }

  std::vector<std::vector<float>> out(kWorld);
  std::vector<std::unique_ptr<DeviceMemory>> d_out;
  for (int q = 0; q < kWorld; ++q) {
    out[q] = RandomF32(kTokens[q] * hidden, 1.0f, 31 + q);
    d_out.push_back(Upload(out[q]));
  }
  for (int q = 0; q < kWorld; ++q) {
    const kernels::DirectExchange ex = Exchange(q, memory, hidden);
    ASSERT_EQ(kernels::LaunchDirectCombine(ex, layer.d_sums[q]->get<float>(), streams_[q]), "");
    ASSERT_EQ(kernels::LaunchDirectAdd(ex, d_out[q]->get<float>(), streams_[q]), "");
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(*error_, 0);
  for (int src = 0; src < kWorld; ++src) {
    const auto want = layer.Combined(src, out[src], hidden);
    const auto got = Download(d_out[src]->get<float>(), kTokens[src] * hidden);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "rank " << src << " token " << i / hidden << " column "
                                 << i % hidden;
    }
  }
}

// A layer's launches captured once in a CUDA graph per rank (as CudaNetwork captures a decode
// step) replay step after step: each replay, after its step's base moved, adds that step's sums.
// Then rank 0 replays a step alone: its wait must see that rank 1 has not reached this step's
// seq (last step's flags do not count) and name rank 1.
TEST_P(CudaDirectExchangeKernelTest, ACapturedLayerReplaysStepAfterStep) {
  const int64_t hidden = GetParam();
  const int64_t rows = kTokens[0] + kTokens[1];
  Layer layer(hidden);
  std::vector<std::unique_ptr<RankMemory>> memory;
  std::vector<std::vector<float>> want(kWorld);
  std::vector<std::unique_ptr<DeviceMemory>> d_out;
  for (int q = 0; q < kWorld; ++q) {
    memory.push_back(std::make_unique<RankMemory>(rows, kTokens[q], hidden));
    want[q] = RandomF32(kTokens[q] * hidden, 1.0f, 31 + q);
    d_out.push_back(Upload(want[q]));
  }
  cudaGraphExec_t graphs[kWorld] = {};
  for (int q = 0; q < kWorld; ++q) {
    kernels::DirectExchange ex = Exchange(q, memory, hidden);
    ex.timeout_ns = 2'000'000'000ull;  // 2 s: the silent replay below waits it out
    ASSERT_EQ(cudaStreamBeginCapture(streams_[q], cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_EQ(kernels::LaunchDirectDispatch(ex, layer.Args(q), streams_[q]), "");
    EXPECT_EQ(kernels::LaunchDirectWait(ex, streams_[q]), "");
    EXPECT_EQ(kernels::LaunchDirectCombine(ex, layer.d_sums[q]->get<float>(), streams_[q]), "");
    EXPECT_EQ(kernels::LaunchDirectAdd(ex, d_out[q]->get<float>(), streams_[q]), "");
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(streams_[q], &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&graphs[q], graph, 0), cudaSuccess);
    cudaGraphDestroy(graph);
  }
  unsigned long long base = 0;
  for (int step = 0; step < 3; ++step, base += 4) {  // steps of 4 layers, this one the first
    // New sums each step: an add that did not wait for this step's combine would add old ones.
    layer.DrawSums(100 + 10 * step);
    for (int q = 0; q < kWorld; ++q) {
      ASSERT_EQ(kernels::LaunchDirectBeginStep(seq_base_[q]->get<unsigned long long>(), base,
                                               streams_[q]),
                "");
      ASSERT_EQ(cudaGraphLaunch(graphs[q], streams_[q]), cudaSuccess);
      want[q] = layer.Combined(q, want[q], hidden);
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(*error_, 0) << "step " << step;
    for (int q = 0; q < kWorld; ++q) {
      const auto got = Download(d_out[q]->get<float>(), kTokens[q] * hidden);
      ASSERT_EQ(got, want[q]) << "rank " << q << " step " << step;
    }
  }
  ASSERT_EQ(
      kernels::LaunchDirectBeginStep(seq_base_[0]->get<unsigned long long>(), base, streams_[0]),
      "");
  ASSERT_EQ(cudaGraphLaunch(graphs[0], streams_[0]), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(streams_[0]), cudaSuccess);
  EXPECT_EQ(*error_, 2);  // rank 1, plus one
  for (cudaGraphExec_t graph : graphs) cudaGraphExecDestroy(graph);
}

// Rank 0 has dispatched (its own flag is up) but rank 1 never does: rank 0 gives up after the
// timeout, names rank 1, and its later kernels return at once.
TEST_P(CudaDirectExchangeKernelTest, ASilentRankIsNamedAfterTheTimeout) {
  const int64_t hidden = GetParam();
  const int64_t rows = kTokens[0] + kTokens[1];
  std::vector<std::unique_ptr<RankMemory>> memory;
  for (int q = 0; q < kWorld; ++q)
    memory.push_back(std::make_unique<RankMemory>(rows, kTokens[q], hidden));
  kernels::DirectExchange ex = Exchange(0, memory, hidden);
  ex.timeout_ns = 50'000'000;  // 50 ms
  const unsigned long long raised = 1;
  ASSERT_EQ(cudaMemcpy(&memory[0]->flags.get<kernels::DirectFlags>()->dispatched[0], &raised,
                       sizeof raised, cudaMemcpyHostToDevice),
            cudaSuccess);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kernels::LaunchDirectWait(ex, streams_[0]), "");
  ASSERT_EQ(cudaStreamSynchronize(streams_[0]), cudaSuccess);
  EXPECT_EQ(*error_, 2);  // rank 1, plus one
  const auto d_out = Upload(std::vector<float>(kTokens[0] * hidden, 0.0f));
  ASSERT_EQ(kernels::LaunchDirectAdd(ex, d_out->get<float>(), streams_[0]), "");
  ASSERT_EQ(cudaStreamSynchronize(streams_[0]), cudaSuccess);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

INSTANTIATE_TEST_SUITE_P(Hidden, CudaDirectExchangeKernelTest, ::testing::Values(36, 64),
                         [](const auto& info) { return "hidden" + std::to_string(info.param); });

// --dispatch-dtype fp8 on the GPU (both exchanges): the encoder writes the host's bytes
// (core/moe/expert_parallel.h) exactly, at a pitch that is only a multiple of 4, and the decoder
// gives the host's f32 values rounded to bf16, skipping the rows that carry no id for this rank.
// Hidden 64 is one short group, 200 a whole one and a short one; the rows mix magnitudes over
// 2^30, zeros, an all-zero group (scale 1) and e4m3's rounding edges.
void CheckFp8Payloads(int64_t hidden) {
  SCOPED_TRACE(::testing::Message() << "hidden " << hidden);
  const int64_t rows = 5, k = 2;
  const int64_t bytes = kernels::DispatchFp8PayloadBytes(hidden), pitch = bytes + 4 * 3;
  ASSERT_EQ(bytes, DispatchHiddenBytes(DispatchDType::kFP8, hidden));
  std::vector<float> x = RandomF32(rows * hidden, 1.0f, 5);
  for (int64_t i = 0; i < hidden; ++i) x[hidden + i] *= i % 7 == 0 ? 3e4f : 1e-5f;
  std::fill(x.begin() + 2 * hidden, x.begin() + 2 * hidden + std::min<int64_t>(hidden, 128), 0.0f);
  x[3 * hidden + 1] = 0.0f;
  // Row 4: a group with amax 448 (scale 1) holding e4m3's edge cases as they are: subnormal
  // steps (2^-9) and the ties between them, ties between normals (to even), values that round
  // up into the top code, and a negative zero.
  const float edges[] = {448.0f,       0x1p-9f,       3 * 0x1p-9f, 7 * 0x1p-9f, 0x1p-10f,
                         3 * 0x1p-10f, 13 * 0x1p-10f, 0x1p-6f,     1.0625f,     1.1875f,
                         -1.0625f,     440.0f,        -436.0f,     -0.0f,       15 * 0x1p-10f};
  for (int64_t i = 0; i < hidden; ++i) x[4 * hidden + i] = edges[i % std::size(edges)];
  std::vector<uint16_t> bits;
  for (float& v : x) {
    bits.push_back(Bf16Bits(v));
    v = BF16ToF32(bits.back());  // what the GPU reads
  }
  const auto d_x = Upload(bits);
  DeviceMemory encoded(rows * pitch);
  ASSERT_EQ(kernels::LaunchEncodeDispatchFp8(d_x->get<uint16_t>(), rows, hidden,
                                             encoded.get<uint8_t>(), pitch, nullptr),
            "");
  const auto got = Download(encoded.get<uint8_t>(), rows * pitch);
  std::vector<uint8_t> want(bytes);
  for (int64_t r = 0; r < rows; ++r) {
    EncodeDispatchHidden(x.data() + r * hidden, hidden, DispatchDType::kFP8, want.data());
    ASSERT_EQ(std::vector<uint8_t>(got.begin() + r * pitch, got.begin() + r * pitch + bytes), want)
        << "row " << r;
  }

  // Row 3's ids are all -1: the decoder leaves its bf16 untouched.
  const std::vector<int32_t> ids = {0, -1, -1, 1, 2, 3, -1, -1, 0, 0};
  const auto d_ids = Upload(ids);
  const std::vector<uint16_t> untouched(rows * hidden, 0x7fc1);
  const auto d_out = Upload(untouched);
  ASSERT_EQ(
      kernels::LaunchDecodeDispatchFp8(encoded.get<uint8_t>(), pitch, rows, hidden,
                                       d_ids->get<int32_t>(), k, d_out->get<uint16_t>(), nullptr),
      "");
  const auto decoded = Download(d_out->get<uint16_t>(), rows * hidden);
  std::vector<float> values(hidden);
  for (int64_t r = 0; r < rows; ++r) {
    DecodeDispatchHidden(got.data() + r * pitch, hidden, DispatchDType::kFP8, values.data());
    for (int64_t c = 0; c < hidden; ++c) {
      ASSERT_EQ(decoded[r * hidden + c], r == 3 ? uint16_t{0x7fc1} : F32ToBF16(values[c]))
          << "row " << r << " column " << c;
    }
  }
  EXPECT_THAT(kernels::LaunchEncodeDispatchFp8(d_x->get<uint16_t>(), rows, 60,
                                               encoded.get<uint8_t>(), pitch, nullptr),
              ::testing::HasSubstr("hidden 60 (a multiple of 8)"));
}

TEST(CudaDispatchFp8Test, PayloadsAreTheHostsBytesAndDecodeToItsValues) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  CheckFp8Payloads(64);
  CheckFp8Payloads(200);
}

}  // namespace
}  // namespace sy
