// Every MoE kernel against its CPU reference (moe_reference.h), on small shapes that exercise
// each path: routing + alignment, gate_up + SwiGLU and down in both strategies (decode with
// each token-tile width, prefill), the whole layer, and its replay from a CUDA graph. Skips
// without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "kernels/cuda_test_support.h"
#include "kernels/moe/dequant_bits.h"
#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/moe_launchers.h"
#include "kernels/moe/moe_reference.h"
#include "switchyard/dtype.hpp"

namespace sy::kernels {
namespace {

using test_support::DeviceMemory;
using test_support::Download;
using test_support::HaveGpu;
using test_support::RandomF32;
using test_support::Upload;

namespace ref = reference;

std::vector<uint16_t> RandomBf16(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = ref::F32ToBf16(u(rng));
  return v;
}

// fp8 e4m3 as f32 for every byte (the CPU references' dequantization, fast enough for full
// model shapes).
const std::vector<float>& Fp8Table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(256);
    for (int b = 0; b < 256; ++b) t[b] = FP8E4M3ToF32(static_cast<uint8_t>(b));
    return t;
  }();
  return table;
}

// A [rows, cols] kFp8Block128 matrix: quantized from uniform weights in [-scale, scale)
// (small shapes: the values and scales quantizer.fp8 writes), or, for full model shapes where
// quantizing on the host takes too long, uniform e4m3 codes (no NaN) under uniform scales.
ref::Fp8Matrix RandomFp8(int64_t rows, int64_t cols, float scale, uint32_t seed) {
  if (rows * cols <= (int64_t{1} << 22)) {
    const std::vector<float> w = RandomF32(rows * cols, scale, seed);
    return ref::QuantizeFp8Block128(w.data(), rows, cols);
  }
  std::mt19937 rng(seed);
  ref::Fp8Matrix m;
  m.values.resize(rows * cols);
  for (auto& v : m.values) {
    do v = static_cast<uint8_t>(rng() >> 24);
    while ((v & 0x7f) == 0x7f);
  }
  m.scales = RandomF32((rows + 127) / 128 * ((cols + 127) / 128), scale / 448, seed + 1);
  for (float& sc : m.scales) sc = std::abs(sc) + scale / 4480;
  return m;
}

// A [rows, cols] kU4Group128 matrix: uniform nibbles and zero points, scales uniform in
// [scale / 80, scale / 8) so weights stay within about [-scale, scale].
struct U4Matrix {
  std::vector<uint8_t> values;  // [rows, cols / 2]
  std::vector<float> scales;    // [rows, cols / 128]
  std::vector<uint8_t> zeros;   // [rows, cols / 128]
};

U4Matrix RandomU4(int64_t rows, int64_t cols, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  U4Matrix m;
  m.values.resize(rows * cols / 2);
  for (auto& v : m.values) v = static_cast<uint8_t>(rng() >> 24);
  m.zeros.resize(rows * cols / 128);
  for (auto& z : m.zeros) z = static_cast<uint8_t>(rng() >> 28);
  m.scales = RandomF32(m.zeros.size(), scale / 8, seed + 1);
  for (float& sc : m.scales) sc = std::abs(sc) + scale / 80;
  return m;
}

// w = (q - zero) * scale of the element's group.
std::vector<float> Dequantize(const U4Matrix& m, int64_t rows, int64_t cols) {
  std::vector<float> w(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int q = (m.values[(r * cols + c) / 2] >> (4 * (c % 2))) & 0xf;
      const int64_t group = r * (cols / 128) + c / 128;
      w[r * cols + c] = static_cast<float>(q - m.zeros[group]) * m.scales[group];
    }
  }
  return w;
}

std::vector<float> Dequantize(const ref::Fp8Matrix& m, int64_t rows, int64_t cols) {
  std::vector<float> w(rows * cols);
  const int64_t grid_cols = (cols + 127) / 128;
  const std::vector<float>& table = Fp8Table();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      w[r * cols + c] = table[m.values[r * cols + c]] * m.scales[r / 128 * grid_cols + c / 128];
  }
  return w;
}

// One layer's inputs on host and device. bf16 weights live in gate_up/down; fp8 weights on the
// device, and dequantized to f32 on the host (gate_up_f32/down_f32) for the references.
struct Layer {
  MoeProblem problem;
  MoeWeightFormat format = MoeWeightFormat::kBf16;
  std::vector<uint16_t> x;
  std::vector<std::vector<uint16_t>> gate_up, down;
  std::vector<std::vector<float>> gate_up_f32, down_f32;
  std::unique_ptr<DeviceMemory> d_x, d_gate_up_ptrs, d_down_ptrs;
  std::unique_ptr<DeviceMemory> d_gate_up_scale_ptrs, d_down_scale_ptrs;
  std::unique_ptr<DeviceMemory> d_gate_up_zero_ptrs, d_down_zero_ptrs;
  std::vector<std::unique_ptr<DeviceMemory>> d_matrices;
  // gpt-oss's experts (UseClampedSwigluWithBiases): the activation and per-expert biases.
  MoeActivation activation = MoeActivation::kSwiglu;
  std::vector<float> gate_up_bias, down_bias;
  std::unique_ptr<DeviceMemory> d_gate_up_bias, d_down_bias;

  Layer(int64_t tokens, int experts, int k, int64_t hidden, int64_t inter, uint32_t seed,
        MoeWeightFormat weight_format = MoeWeightFormat::kBf16) {
    problem = {tokens, experts, k, hidden, inter};
    format = weight_format;
    x = RandomBf16(tokens * hidden, 1.0f, seed);
    d_x = Upload(x);
    std::vector<const void*> gu_ptrs, down_ptrs;
    std::vector<const float*> gu_scale_ptrs, down_scale_ptrs;
    std::vector<const uint8_t*> gu_zero_ptrs, down_zero_ptrs;
    auto upload = [&](const auto& host, auto& ptrs) {
      using Ptr = typename std::decay_t<decltype(ptrs)>::value_type;
      d_matrices.push_back(Upload(host));
      ptrs.push_back(static_cast<Ptr>(d_matrices.back()->get()));
    };
    const float gu_scale = std::sqrt(3.0f / hidden), down_scale = std::sqrt(3.0f / inter);
    for (int e = 0; e < experts; ++e) {
      if (format == MoeWeightFormat::kBf16) {
        gate_up.push_back(RandomBf16(2 * inter * hidden, gu_scale, seed + 10 + e));
        down.push_back(RandomBf16(hidden * inter, down_scale, seed + 1000 + e));
        upload(gate_up.back(), gu_ptrs);
        upload(down.back(), down_ptrs);
        continue;
      }
      if (format == MoeWeightFormat::kU4Group128) {
        const U4Matrix gu = RandomU4(2 * inter, hidden, gu_scale, seed + 10 + e);
        const U4Matrix dn = RandomU4(hidden, inter, down_scale, seed + 1000 + e);
        gate_up_f32.push_back(Dequantize(gu, 2 * inter, hidden));
        down_f32.push_back(Dequantize(dn, hidden, inter));
        upload(gu.values, gu_ptrs);
        upload(gu.scales, gu_scale_ptrs);
        upload(gu.zeros, gu_zero_ptrs);
        upload(dn.values, down_ptrs);
        upload(dn.scales, down_scale_ptrs);
        upload(dn.zeros, down_zero_ptrs);
        continue;
      }
      const ref::Fp8Matrix gu = RandomFp8(2 * inter, hidden, gu_scale, seed + 10 + e);
      const ref::Fp8Matrix dn = RandomFp8(hidden, inter, down_scale, seed + 1000 + e);
      gate_up_f32.push_back(Dequantize(gu, 2 * inter, hidden));
      down_f32.push_back(Dequantize(dn, hidden, inter));
      upload(gu.values, gu_ptrs);
      upload(gu.scales, gu_scale_ptrs);
      upload(dn.values, down_ptrs);
      upload(dn.scales, down_scale_ptrs);
    }
    d_gate_up_ptrs = Upload(gu_ptrs);
    d_down_ptrs = Upload(down_ptrs);
    if (format != MoeWeightFormat::kBf16) {
      d_gate_up_scale_ptrs = Upload(gu_scale_ptrs);
      d_down_scale_ptrs = Upload(down_scale_ptrs);
    }
    if (format == MoeWeightFormat::kU4Group128) {
      d_gate_up_zero_ptrs = Upload(gu_zero_ptrs);
      d_down_zero_ptrs = Upload(down_zero_ptrs);
    }
  }
  void UseClampedSwigluWithBiases(uint32_t seed) {
    activation = MoeActivation::kClampedSwiglu;
    // Large enough that the clamp at 7 bites on some activations.
    gate_up_bias = RandomF32(problem.experts * 2 * problem.intermediate, 6.0f, seed);
    down_bias = RandomF32(problem.experts * problem.hidden, 0.5f, seed + 1);
    d_gate_up_bias = Upload(gate_up_bias);
    d_down_bias = Upload(down_bias);
  }
  MoeWeightsView weights() const {
    MoeWeightsView view{d_gate_up_ptrs->get<const void* const>(),
                        d_down_ptrs->get<const void* const>()};
    if (d_gate_up_bias) {
      view.gate_up_bias = d_gate_up_bias->get<float>();
      view.down_bias = d_down_bias->get<float>();
    }
    view.activation = activation;
    view.format = format;
    if (d_gate_up_scale_ptrs) {
      view.gate_up_scales = d_gate_up_scale_ptrs->get<const float* const>();
      view.down_scales = d_down_scale_ptrs->get<const float* const>();
    }
    if (d_gate_up_zero_ptrs) {
      view.gate_up_zeros = d_gate_up_zero_ptrs->get<const uint8_t* const>();
      view.down_zeros = d_down_zero_ptrs->get<const uint8_t* const>();
    }
    return view;
  }
  // PlanMoe for this layer's weights.
  MoePlan Plan(MoePlanOptions options = {}) const {
    options.format = format;
    return PlanMoe(problem, options);
  }
  ref::Activation HostActivation() const {
    ref::Activation a;
    a.kind = activation;
    a.gate_up_bias = gate_up_bias.empty() ? nullptr : gate_up_bias.data();
    a.down_bias = down_bias.empty() ? nullptr : down_bias.data();
    return a;
  }
  template <typename T>
  static std::vector<const T*> HostPointers(const std::vector<std::vector<T>>& m) {
    std::vector<const T*> out;
    for (const auto& v : m) out.push_back(v.data());
    return out;
  }
  // The layer's output for tokens [first, first + count) (all by default) under `plan` (w8a8
  // where it quantizes activations).
  std::vector<float> Reference(const MoePlan& plan, const std::vector<int32_t>& ids,
                               const std::vector<float>& w, int64_t first = 0,
                               int64_t count = -1) const {
    MoeProblem part = problem;
    part.tokens = count < 0 ? problem.tokens : count;
    const uint16_t* xs = x.data() + first * problem.hidden;
    const int32_t* id = ids.data() + first * problem.top_k;
    const float* wt = w.data() + first * problem.top_k;
    std::vector<float> out(part.tokens * problem.hidden);
    if (format == MoeWeightFormat::kBf16) {
      ref::MoeLayer(part, xs, id, wt, HostPointers(gate_up), HostPointers(down), out.data(),
                    HostActivation());
    } else if (plan.fp8_activations) {
      ref::MoeLayerW8A8(part, xs, id, wt, HostPointers(gate_up_f32), HostPointers(down_f32),
                        out.data(), HostActivation());
    } else {
      ref::MoeLayer(part, xs, id, wt, HostPointers(gate_up_f32), HostPointers(down_f32), out.data(),
                    HostActivation());
    }
    return out;
  }
  // act for token `t` through expert `e` under `plan`.
  void GateUpReference(const MoePlan& plan, int64_t t, int32_t e, float* act) const {
    const ref::Activation a = HostActivation();
    const float* bias =
        a.gate_up_bias != nullptr ? a.gate_up_bias + e * 2 * problem.intermediate : nullptr;
    const uint16_t* xt = x.data() + t * problem.hidden;
    if (format == MoeWeightFormat::kBf16) {
      ref::GateUpSwiglu(xt, gate_up[e].data(), problem.hidden, problem.intermediate, act, a, bias);
    } else if (plan.fp8_activations) {
      ref::GateUpSwigluW8A8(xt, gate_up_f32[e].data(), problem.hidden, problem.intermediate, act, a,
                            bias);
    } else {
      ref::GateUpSwiglu(xt, gate_up_f32[e].data(), problem.hidden, problem.intermediate, act, a,
                        bias);
    }
  }
};

double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(err / std::max(norm, 1e-30));
}

// How far the layer may be from its reference (relative L2). w8a8 requantizes act, and where the
// kernel's act and the reference's differ in the last bf16 bit, a value on an e4m3 rounding
// boundary (or a group's amax, and with it the group's scale) lands differently: a few e4m3
// steps that a handful of tokens does not average out (seen: 1.03% at 3 tokens).
double LayerTolerance(const MoePlan& plan) { return plan.fp8_activations ? 3e-2 : 1e-2; }

// Router logits whose values within a token are a permutation of an evenly spaced grid, so
// top-k has no near-ties that f32 rounding could order differently on the two sides.
std::vector<float> DistinctLogits(int64_t tokens, int experts, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(tokens * experts);
  std::vector<int> perm(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int e = 0; e < experts; ++e)
      v[t * experts + e] = (perm[e] - experts / 2) * (6.0f / experts);
  }
  return v;
}

// Routing with distinct experts per token; every seventh token drops its last slot.
void RandomRouting(int64_t tokens, int experts, int k, uint32_t seed, std::vector<int32_t>& ids,
                   std::vector<float>& weights) {
  std::mt19937 rng(seed);
  ids.assign(tokens * k, -1);
  weights.assign(tokens * k, 0.0f);
  std::vector<int32_t> perm(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int j = 0; j < k; ++j) {
      if (j == k - 1 && k > 1 && t % 7 == 6) continue;
      ids[t * k + j] = perm[j];
      weights[t * k + j] = 0.25f + 0.5f * static_cast<float>(rng() % 1000) / 1000.0f;
    }
  }
}

// The layer's arguments with routing given as ids and weights on the device.
MoeLayerArgs PreRoutedArgs(const Layer& layer, const DeviceMemory& ids, const DeviceMemory& weights,
                           DeviceMemory& workspace, DeviceMemory& out) {
  MoeLayerArgs args;
  args.x = layer.d_x->get();
  args.routing.ids = ids.get<int32_t>();
  args.routing.weights = weights.get<float>();
  args.weights = layer.weights();
  args.out = out.get<float>();
  args.workspace = workspace.get();
  return args;
}

class CudaMoeKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(CudaMoeKernelsTest, RouteTopkAndAlignMatchTheReference) {
  struct Case {
    int64_t tokens;
    int experts, k;
    bool renormalize;
  };
  for (const Case& c : {Case{1, 8, 2, true}, Case{37, 8, 2, true}, Case{300, 128, 8, false},
                        Case{2000, 256, 8, true}, Case{5, 60, 3, true}}) {
    SCOPED_TRACE(::testing::Message()
                 << c.tokens << " tokens, " << c.experts << " experts, top-" << c.k);
    const MoeProblem problem{c.tokens, c.experts, c.k, 64, 64};
    const MoePlan plan = PlanMoe(problem);
    DeviceMemory ws_mem(plan.workspace_bytes), counts(sizeof(int32_t) * c.experts);
    ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), nullptr), "");
    const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, ws_mem.get());
    const std::vector<float> logits = DistinctLogits(c.tokens, c.experts, 7);
    auto d_logits = Upload(logits);
    MoeRouting routing;
    routing.logits = d_logits->get<float>();
    routing.renormalize = c.renormalize;
    for (int round = 0; round < 2; ++round) {  // the second run checks the state was reset
      ASSERT_EQ(
          LaunchRouteAlign(problem, plan, routing, ws, counts.get<int32_t>(), nullptr, nullptr),
          "");
      const int64_t slots = c.tokens * c.k;
      std::vector<int32_t> want_ids(slots);
      std::vector<float> want_w(slots);
      ref::RouteTopk(logits.data(), c.tokens, c.experts, c.k, c.renormalize, want_ids.data(),
                     want_w.data());
      const auto ids = Download(ws.topk_ids, slots);
      const auto w = Download(ws.topk_weights, slots);
      for (int64_t s = 0; s < slots; ++s) {
        ASSERT_EQ(ids[s], want_ids[s]) << "slot " << s;
        ASSERT_NEAR(w[s], want_w[s], 1e-6) << "slot " << s;
      }
      const auto by_expert = ref::SlotsByExpert(want_ids.data(), slots, c.experts);
      const auto got_counts = Download(counts.get<int32_t>(), c.experts);
      const auto sorted = Download(ws.sorted_slots, slots);
      const int num_blocks = Download(ws.num_blocks, 1)[0];
      const auto blocks = Download(ws.blocks, std::max(num_blocks, 0));
      int want_blocks = 0;
      for (int e = 0; e < c.experts; ++e) {
        ASSERT_EQ(got_counts[e], static_cast<int>(by_expert[e].size())) << "expert " << e;
        want_blocks += (got_counts[e] + plan.block_m - 1) / plan.block_m;
      }
      ASSERT_EQ(num_blocks, want_blocks);
      ASSERT_LE(num_blocks, plan.max_blocks);
      std::vector<std::set<int32_t>> seen(c.experts);
      for (const BlockInfo& b : blocks) {
        ASSERT_GT(b.end, b.begin);
        ASSERT_LE(b.end - b.begin, plan.block_m);
        for (int p = b.begin; p < b.end; ++p) {
          ASSERT_EQ(ids[sorted[p]], b.expert);
          seen[b.expert].insert(sorted[p]);
        }
      }
      for (int e = 0; e < c.experts; ++e)
        ASSERT_EQ(seen[e], std::set<int32_t>(by_expert[e].begin(), by_expert[e].end()));
      const auto state = Download(ws.counts, kMaxMoeExperts + 1);
      for (int32_t v : state) ASSERT_EQ(v, 0) << "counters must be left zeroed";
    }
  }
}

TEST_F(CudaMoeKernelsTest, PreRoutedIdsDropOutOfRangeSlots) {
  const MoeProblem problem{4, 8, 2, 64, 64};
  const MoePlan plan = PlanMoe(problem);
  DeviceMemory ws_mem(plan.workspace_bytes);
  ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), nullptr), "");
  const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, ws_mem.get());
  auto ids = Upload(std::vector<int32_t>{0, 1, -1, 3, 9, 2, 7, -5});
  auto w = Upload(std::vector<float>{0.5f, 0.5f, 0.f, 1.f, 1.f, 1.f, 1.f, 1.f});
  MoeRouting routing;
  routing.ids = ids->get<int32_t>();
  routing.weights = w->get<float>();
  ASSERT_EQ(LaunchRouteAlign(problem, plan, routing, ws, nullptr, nullptr, nullptr), "");
  EXPECT_EQ(Download(ws.topk_ids, 8), (std::vector<int32_t>{0, 1, -1, 3, -1, 2, 7, -1}));
  EXPECT_EQ(Download(ws.topk_weights, 8)[4], 0.0f);
}

// The GPU model runs a dense MLP (1 expert), a shared expert and 256 routed experts through one
// workspace: a small-E launch's slot lists must not land where a large-E launch keeps its
// counters (they did, before the state had a fixed place: garbage counts, writes far out of
// bounds).
TEST_F(CudaMoeKernelsTest, OneWorkspaceServesProblemsOfEveryExpertCount) {
  const MoeProblem dense{16, 1, 1, 64, 64}, routed{16, 256, 8, 64, 64};
  const MoePlan dense_plan = PlanMoe(dense), routed_plan = PlanMoe(routed);
  DeviceMemory ws_mem(std::max(dense_plan.workspace_bytes, routed_plan.workspace_bytes));
  ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), nullptr), "");
  std::vector<int32_t> ids(routed.tokens * routed.top_k);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 37 + i / 8) % 256);
  auto d_dense_ids = Upload(std::vector<int32_t>(dense.tokens, 0));
  auto d_ids = Upload(ids);
  auto d_w = Upload(std::vector<float>(ids.size(), 1.0f));
  for (int round = 0; round < 2; ++round) {
    MoeRouting to_one{.ids = d_dense_ids->get<int32_t>(), .weights = d_w->get<float>()};
    const MoeWorkspaceView dense_ws = LayoutMoeWorkspace(dense, dense_plan, ws_mem.get());
    ASSERT_EQ(LaunchRouteAlign(dense, dense_plan, to_one, dense_ws, nullptr, nullptr, nullptr), "");
    MoeRouting routing{.ids = d_ids->get<int32_t>(), .weights = d_w->get<float>()};
    const MoeWorkspaceView ws = LayoutMoeWorkspace(routed, routed_plan, ws_mem.get());
    ASSERT_EQ(LaunchRouteAlign(routed, routed_plan, routing, ws, nullptr, nullptr, nullptr), "");
    std::vector<int32_t> count(256, 0);
    for (int32_t id : ids) ++count[id];
    int32_t want_blocks = 0;
    for (int32_t c : count) want_blocks += (c + routed_plan.block_m - 1) / routed_plan.block_m;
    ASSERT_EQ(Download(ws.num_blocks, 1)[0], want_blocks) << "round " << round;
    const auto blocks = Download(ws.blocks, want_blocks);
    const auto sorted = Download(ws.sorted_slots, ids.size());
    for (const BlockInfo& b : blocks) {
      for (int32_t p = b.begin; p < b.end; ++p) ASSERT_EQ(ids[sorted[p]], b.expert);
    }
    for (int32_t v : Download(ws.counts, kMaxMoeExperts + 1)) ASSERT_EQ(v, 0);
  }
}

// gate_up + SwiGLU alone, then the whole layer, for a plan.
void CheckLayer(Layer& layer, const MoePlan& plan, bool logits_routing) {
  const MoeProblem& problem = layer.problem;
  const int64_t slots = problem.tokens * problem.top_k;
  DeviceMemory ws_mem(plan.workspace_bytes), out(sizeof(float) * problem.tokens * problem.hidden);
  ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), nullptr), "");
  const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, ws_mem.get());
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<float> logits;
  RandomRouting(problem.tokens, problem.experts, problem.top_k, 3, ids, weights);
  auto d_ids = Upload(ids);
  auto d_w = Upload(weights);
  MoeRouting routing;
  std::unique_ptr<DeviceMemory> d_logits;
  if (logits_routing) {
    logits = DistinctLogits(problem.tokens, problem.experts, 11);
    d_logits = Upload(logits);
    routing.logits = d_logits->get<float>();
    ref::RouteTopk(logits.data(), problem.tokens, problem.experts, problem.top_k, true, ids.data(),
                   weights.data());
  } else {
    routing.ids = d_ids->get<int32_t>();
    routing.weights = d_w->get<float>();
  }

  // gate_up alone: act rows in sorted order.
  ASSERT_EQ(LaunchRouteAlign(problem, plan, routing, ws, nullptr, out.get<float>(), nullptr), "");
  ASSERT_EQ(LaunchGateUp(problem, plan, layer.d_x->get(), layer.weights(), ws, nullptr), "");
  const auto sorted = Download(ws.sorted_slots, slots);
  const auto act = Download(ws.act, slots * problem.intermediate);
  int64_t kept = 0;
  std::vector<float> want(problem.intermediate);
  for (int64_t s = 0; s < slots; ++s) kept += ids[s] >= 0;
  double worst = 0, err2 = 0, norm2 = 0;
  for (int64_t p = 0; p < kept; ++p) {
    const int32_t slot = sorted[p];
    layer.GateUpReference(plan, slot / problem.top_k, ids[slot], want.data());
    for (int64_t i = 0; i < problem.intermediate; ++i) {
      const float got = ref::Bf16ToF32(act[p * problem.intermediate + i]);
      worst = std::max(worst, std::abs(got - want[i]) / (std::abs(want[i]) + 1e-2));
      err2 += std::pow(got - want[i], 2);
      norm2 += std::pow(want[i], 2);
    }
  }
  if (layer.format == MoeWeightFormat::kFp8Block128 && plan.path == MoePath::kPrefill) {
    // Element by element, near-cancelling outputs (the clamped SwiGLU's u + 1) magnify small
    // errors: the mma.sync fp8 tile rounds weight x scale to bf16 (2^-9 a weight; the reference
    // keeps it exact), and w8a8's e4m3 wgmma accumulates a 128-wide k block at about 2^-14 of
    // its magnitude before the f32 promotion (DeepSeek-V3's report, section 3.3.2).
    EXPECT_LT(std::sqrt(err2 / norm2), 5e-3) << "gate_up + SwiGLU";
  } else {
    EXPECT_LT(worst, 2e-2) << "gate_up + SwiGLU";
  }

  // The whole layer, twice (the workspace state must reset itself).
  MoeLayerArgs args;
  args.x = layer.d_x->get();
  args.routing = routing;
  args.weights = layer.weights();
  args.out = out.get<float>();
  args.workspace = ws_mem.get();
  const std::vector<float> want_out = layer.Reference(plan, ids, weights);
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(LaunchMoeLayer(problem, plan, args, nullptr), "");
    const auto got = Download(out.get<float>(), want_out.size());
    EXPECT_LT(RelativeError(got, want_out), LayerTolerance(plan)) << "layer, round " << round;
  }
  // Accumulating adds to what is there.
  args.accumulate = true;
  ASSERT_EQ(LaunchMoeLayer(problem, plan, args, nullptr), "");
  std::vector<float> twice(want_out);
  for (float& v : twice) v *= 2;
  EXPECT_LT(RelativeError(Download(out.get<float>(), twice.size()), twice), LayerTolerance(plan))
      << "accumulate";
}

TEST_F(CudaMoeKernelsTest, DecodeGemmsMatchTheReferenceForEveryTokenTile) {
  for (int tiles : {1, 2, 4, 8}) {
    for (int64_t tokens : {1, 9, 70}) {
      SCOPED_TRACE(::testing::Message() << tiles << " token tiles, " << tokens << " tokens");
      Layer layer(tokens, 8, 2, 256, 96, 5);
      MoePlanOptions options;
      options.path = MoePath::kDecode;
      options.token_tiles = tiles;
      CheckLayer(layer, layer.Plan(options), false);
    }
  }
}

// Row groups: a CTA's 8 warps split into R groups of 32 rows, each summing over 8 / R warps'
// share of K (R = 8: one warp takes a row group's whole K, no shared-memory sum).
TEST_F(CudaMoeKernelsTest, DecodeGemmsMatchTheReferenceForEveryRowGroupCount) {
  for (MoeWeightFormat format :
       {MoeWeightFormat::kBf16, MoeWeightFormat::kFp8Block128, MoeWeightFormat::kU4Group128}) {
    for (int groups : {1, 2, 4, 8}) {
      for (int tiles : {1, 2}) {
        for (int64_t tokens : {1, 9, 70}) {
          SCOPED_TRACE(::testing::Message()
                       << "format " << static_cast<int>(format) << ", " << groups << " row groups, "
                       << tiles << " token tiles, " << tokens << " tokens");
          // H = 512 and I = 256: 8 row groups tile both GEMMs (I % 128, H % 256), and K = 256's
          // 8 bf16 k-steps leave some warps of R = 1 and 2 one step or none.
          Layer layer(tokens, 8, 2, 512, 256, 12, format);
          MoePlanOptions options;
          options.path = MoePath::kDecode;
          options.token_tiles = tiles;
          options.gate_up_row_groups = groups;
          options.down_row_groups = groups;
          const MoePlan plan = layer.Plan(options);
          ASSERT_EQ(plan.gate_up_row_groups, groups);
          ASSERT_EQ(plan.down_row_groups, groups);
          CheckLayer(layer, plan, false);
        }
      }
    }
  }
}

TEST_F(CudaMoeKernelsTest, DecodeRefusesRowGroupsTheRowsDoNotDivide) {
  Layer layer(4, 8, 2, 256, 96, 5);
  MoePlanOptions options;
  options.path = MoePath::kDecode;
  MoePlan plan = layer.Plan(options);
  plan.gate_up_row_groups = 4;  // I = 96 is not a multiple of 64 rows
  const MoeWorkspaceView ws{};
  const std::string gate_up =
      LaunchGateUp(layer.problem, plan, nullptr, layer.weights(), ws, nullptr);
  EXPECT_NE(gate_up.find("I = 96 is not a multiple of 64 rows"), std::string::npos) << gate_up;
  plan.gate_up_row_groups = 1;
  plan.down_row_groups = 3;
  const std::string down = LaunchDown(layer.problem, plan, layer.weights(), ws, nullptr, nullptr);
  EXPECT_NE(down.find("row groups must be 1, 2, 4 or 8"), std::string::npos) << down;
}

TEST_F(CudaMoeKernelsTest, DecodeHandlesKTailsAndManyExperts) {
  Layer layer(33, 64, 6, 96, 48, 6);  // K = 96 and 48: partial 32-wide k steps
  CheckLayer(layer, layer.Plan(), true);
}

// Decode sums each CTA's split-K partials in a fixed order, and down adds a token's top-2 expert
// outputs into a zeroed f32 row (0 + a + b is b + a exactly), so a top-2 layer (Mixtral's) gives
// the same bits every run, in every weight format. Shared atomics varied the last bit per run.
TEST_F(CudaMoeKernelsTest, DecodeAtTopTwoRepeatsBitForBit) {
  for (MoeWeightFormat format :
       {MoeWeightFormat::kBf16, MoeWeightFormat::kFp8Block128, MoeWeightFormat::kU4Group128}) {
    SCOPED_TRACE(static_cast<int>(format));
    Layer layer(13, 8, 2, 256, 128, 31, format);
    MoePlanOptions options;
    options.path = MoePath::kDecode;
    const MoePlan plan = layer.Plan(options);
    const MoeProblem& problem = layer.problem;
    DeviceMemory ws(plan.workspace_bytes), out(sizeof(float) * problem.tokens * problem.hidden);
    ASSERT_EQ(InitMoeWorkspace(ws.get(), nullptr), "");
    std::vector<int32_t> ids;
    std::vector<float> weights;
    RandomRouting(problem.tokens, problem.experts, problem.top_k, 32, ids, weights);
    ids[9 * 2 + 1] = ids[9 * 2];  // a token routed twice to one expert: two columns of a block
    auto d_ids = Upload(ids);
    auto d_w = Upload(weights);
    const MoeLayerArgs args = PreRoutedArgs(layer, *d_ids, *d_w, ws, out);
    std::vector<float> first;
    for (int run = 0; run < 20; ++run) {
      ASSERT_EQ(LaunchMoeLayer(problem, plan, args, nullptr), "");
      const std::vector<float> got = Download(out.get<float>(), problem.tokens * problem.hidden);
      if (run == 0) {
        first = got;
        EXPECT_LT(RelativeError(got, layer.Reference(plan, ids, weights)), LayerTolerance(plan));
      } else {
        ASSERT_EQ(std::memcmp(got.data(), first.data(), sizeof(float) * got.size()), 0) << run;
      }
    }
  }
}

// Where the plan switches from decode to prefill (the measured crossovers in moe_plan.cc): 16
// slots per expert for bf16 layers the wgmma tile divides, 25 otherwise.
TEST(MoePlanTest, PrefillStartsWhereItsTilesWin) {
  auto path = [](int64_t tokens, int64_t hidden, MoeWeightFormat format) {
    MoePlanOptions options;
    options.format = format;
    return PlanMoe(MoeProblem{tokens, 8, 2, hidden, 256}, options).path;
  };
  EXPECT_EQ(path(31, 512, MoeWeightFormat::kBf16), MoePath::kDecode);  // 7.75 per expert
  EXPECT_EQ(path(32, 512, MoeWeightFormat::kBf16), MoePath::kPrefill);
  EXPECT_EQ(path(64, 384, MoeWeightFormat::kBf16), MoePath::kDecode);  // the mma.sync tile
  EXPECT_EQ(path(100, 384, MoeWeightFormat::kBf16), MoePath::kPrefill);
  EXPECT_EQ(path(3, 512, MoeWeightFormat::kFp8Block128), MoePath::kDecode);   // 0.75 per expert
  EXPECT_EQ(path(4, 512, MoeWeightFormat::kFp8Block128), MoePath::kPrefill);  // w8a8
  EXPECT_EQ(path(64, 384, MoeWeightFormat::kFp8Block128), MoePath::kDecode);  // mma.sync
  EXPECT_EQ(path(100, 384, MoeWeightFormat::kFp8Block128), MoePath::kPrefill);
  EXPECT_EQ(path(4096, 512, MoeWeightFormat::kU4Group128), MoePath::kDecode);
}

// bf16 prefill on the wgmma kernel runs blocks of 256 slots, each CTA fitting its tile to its
// block; forced to blocks of 128, it runs blocks of at most 64 slots on its 64-slot tile where
// experts average under 128 slots. Every other kernel runs blocks of 128.
TEST(MoePlanTest, PrefillBlocksAndHalfTiles) {
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  const auto plan = [&](int64_t tokens, int experts, int top_k, int64_t hidden, int64_t inter) {
    const MoePlan p = PlanMoe(MoeProblem{tokens, experts, top_k, hidden, inter}, options);
    return std::pair(p.block_m, p.prefill_half_tiles);
  };
  EXPECT_EQ(plan(1024, 256, 8, 7168, 2048), std::pair(256, false));  // DeepSeek-V3
  EXPECT_EQ(plan(4096, 8, 2, 4096, 14336), std::pair(256, false));   // Mixtral-8x7B
  EXPECT_EQ(plan(256, 8, 2, 4096, 192), std::pair(128, false));      // mma.sync tile
  options.prefill_half_tiles = true;  // only blocks of 128 have half tiles
  EXPECT_EQ(plan(4096, 256, 8, 7168, 2048), std::pair(256, false));
  options.prefill_half_tiles = std::nullopt;
  options.prefill_block_m = 128;
  EXPECT_EQ(plan(1024, 256, 8, 7168, 2048), std::pair(128, true));   // 32 an expert
  EXPECT_EQ(plan(4064, 256, 8, 7168, 2048), std::pair(128, true));   // 127
  EXPECT_EQ(plan(4096, 256, 8, 7168, 2048), std::pair(128, false));  // 128
  options.prefill_half_tiles = true;
  EXPECT_EQ(plan(4096, 256, 8, 7168, 2048), std::pair(128, true));
  options.prefill_half_tiles = false;
  EXPECT_EQ(plan(1024, 256, 8, 7168, 2048), std::pair(128, false));
  options.prefill_block_m = 64;  // blocks of 64 always run the 64-slot tile
  EXPECT_EQ(plan(4096, 8, 2, 4096, 14336), std::pair(64, true));
  // The block table has room for the smaller blocks.
  EXPECT_GE(PlanMoe(MoeProblem{4096, 256, 8, 7168, 2048}, options).max_blocks, 4096 * 8 / 64 + 256);
  options.format = MoeWeightFormat::kFp8Block128;  // the fp8 kernels: 128-slot tiles only
  EXPECT_EQ(plan(1024, 256, 8, 7168, 2048), std::pair(128, false));
  options.prefill_block_m = 0;
  EXPECT_EQ(plan(1024, 256, 8, 7168, 2048), std::pair(128, false));
}

// The prefill raster groups blocks only where an expert has several to share its weight tiles
// (measured: docs/benchmarks.md, "Prefill tiles fitted to each block, and raster groups").
TEST(MoePlanTest, PrefillRasterGroupFromBlocksPerExpert) {
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  const auto group = [&](int64_t tokens, int experts, int top_k, int64_t hidden, int64_t inter) {
    return PlanMoe(MoeProblem{tokens, experts, top_k, hidden, inter}, options).prefill_raster_group;
  };
  EXPECT_EQ(group(4096, 256, 8, 7168, 2048), 1);  // DeepSeek-V3: half a block an expert
  EXPECT_EQ(group(4096, 128, 8, 2048, 768), 2);   // Qwen3-30B-A3B: one
  EXPECT_EQ(group(1024, 8, 2, 4096, 14336), 2);   // Mixtral-8x7B: one
  EXPECT_EQ(group(2048, 8, 2, 4096, 14336), 4);   // two
  EXPECT_EQ(group(4096, 8, 2, 4096, 14336), 8);   // four
  EXPECT_EQ(group(256, 8, 2, 4096, 14336), 1);
  options.format = MoeWeightFormat::kFp8Block128;  // blocks of 128: twice the blocks
  EXPECT_EQ(group(2048, 8, 2, 4096, 14336), 8);
  options.prefill_raster_group = 4;
  EXPECT_EQ(group(4096, 256, 8, 7168, 2048), 4);
}

// Decode row groups: the fewest giving each warp 16 k-steps, while the grid keeps 192 CTAs for the
// experts a batch is expected to touch (the measurements in moe_plan.cc).
TEST(MoePlanTest, DecodeRowGroupsGiveWarpsLongRunsOfK) {
  MoePlanOptions options;
  options.path = MoePath::kDecode;
  const auto groups = [&](const MoeProblem& problem) {
    const MoePlan plan = PlanMoe(problem, options);
    return std::pair(plan.gate_up_row_groups, plan.down_row_groups);
  };
  const MoeProblem qwen3{16, 128, 8, 2048, 768}, deepseek{1, 256, 8, 7168, 2048},
      mixtral{1, 8, 2, 4096, 14336};
  EXPECT_EQ(groups(qwen3), std::pair(2, 8));     // 64 and 24 bf16 k-steps
  EXPECT_EQ(groups(deepseek), std::pair(1, 2));  // 224 and 64
  EXPECT_EQ(groups(mixtral), std::pair(1, 1));   // 128 and 448
  // One token touches 8 experts: down's 64 row tiles an expert keep 256 CTAs at 2 groups.
  EXPECT_EQ(groups(MoeProblem{1, 128, 8, 2048, 768}), std::pair(2, 2));
  // Wider steps: fp8 64 k, int4 128 k.
  options.format = MoeWeightFormat::kFp8Block128;
  EXPECT_EQ(groups(deepseek), std::pair(2, 4));
  options.format = MoeWeightFormat::kU4Group128;
  EXPECT_EQ(groups(qwen3), std::pair(8, 8));
  // Forced: halved until the rows divide (I = 96: 16-row tiles, so 2), and 1 past two tiles.
  options.format = MoeWeightFormat::kBf16;
  options.gate_up_row_groups = 8;
  options.down_row_groups = 4;
  EXPECT_EQ(groups(MoeProblem{4, 8, 2, 256, 96}), std::pair(2, 4));
  options.token_tiles = 4;
  EXPECT_EQ(groups(MoeProblem{4, 8, 2, 256, 96}), std::pair(1, 1));
}

// Prefill plans keep the TMA tensor maps of every expert's two matrices (128 bytes each, 128-byte
// aligned) before rows_out, and rows_out holds a row per slot (the gathered x rows of gate_up);
// decode plans have neither.
TEST(MoePlanTest, PrefillWorkspaceHoldsTheTensorMapsAndTheGatheredRows) {
  const MoeProblem problem{1000, 60, 4, 256, 256};
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  const MoePlan plan = PlanMoe(problem, options);
  const MoeWorkspaceView v = LayoutMoeWorkspace(problem, plan, nullptr);
  const auto at = [](const void* p) { return reinterpret_cast<size_t>(p); };
  ASSERT_NE(v.weight_maps, nullptr);
  EXPECT_EQ(at(v.weight_maps) % 128, 0u);
  EXPECT_GE(at(v.weight_maps), at(v.act) + sizeof(uint16_t) * 4000 * 256);
  EXPECT_GE(at(v.rows_out) - at(v.weight_maps), size_t{2} * 60 * 128);
  EXPECT_GE(plan.workspace_bytes - at(v.rows_out), sizeof(uint16_t) * 4000 * 256);

  options.path = MoePath::kDecode;
  EXPECT_EQ(LayoutMoeWorkspace(problem, PlanMoe(problem, options), nullptr).weight_maps, nullptr);
}

// w8a8: fp8 weights on the wgmma tile quantize their activations, and only such plans give the
// workspace room for them before rows_out: x in token order ([T, H] e4m3, scales [H / 128, T]),
// then down's act ([T k, I], [I / 128, T k]). gate_up's A (x's rows gathered: [T k, H] and
// [H / 128, T k]) fits in rows_out.
TEST(MoePlanTest, Fp8PrefillOnTheWgmmaTilePlansFp8Activations) {
  const MoeProblem problem{1000, 8, 2, 256, 256};
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  options.format = MoeWeightFormat::kFp8Block128;
  const MoePlan w8a8 = PlanMoe(problem, options);
  ASSERT_TRUE(w8a8.fp8_activations);
  const MoeWorkspaceView v = LayoutMoeWorkspace(problem, w8a8, nullptr);
  const auto at = [](const void* p) { return reinterpret_cast<size_t>(p); };
  const size_t slots = 2000;
  const W8a8Operand down = W8a8OperandOf(false, problem, v);
  EXPECT_EQ(down.rows, v.a_fp8);
  EXPECT_EQ(down.scales, v.a_scales);
  EXPECT_EQ(down.scales_ld, 2000);
  EXPECT_GE(at(v.a_scales) - at(v.a_fp8), slots * 256);
  EXPECT_GE(at(v.rows_out) - at(v.a_scales), sizeof(float) * 2 * slots);
  EXPECT_GE(at(v.a_fp8), at(v.act) + sizeof(uint16_t) * slots * 256);
  const W8a8Operand x = W8a8TokenRowsOf(problem, v);
  EXPECT_EQ(x.rows, v.a_fp8);
  EXPECT_EQ(x.scales_ld, 1000);
  EXPECT_GE(at(v.a_scales) - at(v.a_fp8), size_t{1000} * 256);
  const W8a8Operand gate_up = W8a8OperandOf(true, problem, v);
  EXPECT_EQ(at(gate_up.rows), at(v.rows_out));
  EXPECT_EQ(at(gate_up.scales) % 16, 0u);
  EXPECT_GE(at(gate_up.scales) - at(gate_up.rows), slots * 256);
  EXPECT_LE(at(gate_up.scales) + sizeof(float) * 2 * gate_up.scales_ld, w8a8.workspace_bytes);
  // A slot count that is not a multiple of 4 pads the scale rows (16-byte TMA strides).
  EXPECT_EQ(W8a8OperandOf(true, MoeProblem{999, 8, 2, 256, 256}, v).scales_ld, 2000);

  options.format = MoeWeightFormat::kBf16;
  const MoePlan bf16 = PlanMoe(problem, options);
  EXPECT_FALSE(bf16.fp8_activations);
  EXPECT_EQ(LayoutMoeWorkspace(problem, bf16, nullptr).a_fp8, nullptr);
  EXPECT_LT(bf16.workspace_bytes, w8a8.workspace_bytes);
  options.format = MoeWeightFormat::kFp8Block128;
  EXPECT_FALSE(PlanMoe(MoeProblem{1000, 8, 2, 256, 192}, options).fp8_activations);  // mma.sync
  EXPECT_FALSE(PlanMoe(MoeProblem{1000, 8, 2, 384, 256}, options).fp8_activations);
  options.path = MoePath::kDecode;
  EXPECT_FALSE(PlanMoe(problem, options).fp8_activations);
  // Weight-only fp8 (w8a16) keeps bf16 activations, and prefill from 25 slots per expert.
  MoePlanOptions weight_only;
  weight_only.format = MoeWeightFormat::kFp8Block128;
  weight_only.fp8_activations = false;
  const MoePlan w8a16 = PlanMoe(problem, weight_only);
  EXPECT_EQ(w8a16.path, MoePath::kPrefill);
  EXPECT_FALSE(w8a16.fp8_activations);
  EXPECT_EQ(LayoutMoeWorkspace(problem, w8a16, nullptr).a_fp8, nullptr);
  EXPECT_EQ(PlanMoe(MoeProblem{12, 8, 2, 256, 256}, weight_only).path, MoePath::kDecode);
}

// Both prefill kernels: wgmma (bf16, I % 128 == 0, H % 256 == 0) and mma.sync (the rest), with
// one output tile and several, full blocks of 128 slots and partial ones.
TEST_F(CudaMoeKernelsTest, PrefillGemmsMatchTheReference) {
  struct Shape {
    int64_t hidden, inter;
    bool wgmma;
  };
  for (const Shape& shape : {Shape{256, 128, true}, Shape{512, 384, true}, Shape{384, 192, false},
                             Shape{256, 64, false}}) {
    // 600 and 800 tokens: 150 and 200 slots an expert, so blocks of 128 leave leftover blocks
    // of at most 64 slots (the 64-slot tile with half tiles) and of more; blocks of 256 fill 3
    // and 4 of the tall tile's chunks. 1100: 275, a full block of 256 and a leftover one.
    for (int64_t tokens : {3, 200, 600, 800, 1100}) {
      // Blocks of 64 slots run the wgmma kernel's 64 x 256 tile, blocks of 256 its 256 x 128
      // tile; the other kernels keep 128.
      for (const auto& [block_m, half_tiles] : {std::pair(64, true), std::pair(128, true),
                                                std::pair(128, false), std::pair(256, false)}) {
        // The other kernels run 128-slot tiles whatever is asked: one variant covers them.
        if (!shape.wgmma && (block_m != 128 || half_tiles)) continue;
        SCOPED_TRACE(::testing::Message()
                     << "H " << shape.hidden << ", I " << shape.inter << ", " << tokens
                     << " tokens, blocks of " << block_m << ", half tiles " << half_tiles);
        Layer layer(tokens, 8, 2, shape.hidden, shape.inter, 8);
        ASSERT_EQ(WgmmaPrefillFits(layer.problem, layer.weights()), shape.wgmma);
        MoePlanOptions options;
        options.path = MoePath::kPrefill;
        options.prefill_block_m = block_m;
        options.prefill_half_tiles = half_tiles;
        const MoePlan plan = layer.Plan(options);
        ASSERT_EQ(plan.path, MoePath::kPrefill);
        ASSERT_EQ(plan.block_m, shape.wgmma ? block_m : 128);
        ASSERT_EQ(plan.prefill_half_tiles, shape.wgmma && half_tiles);
        CheckLayer(layer, plan, true);
      }
    }
  }
}

// gpt-oss's experts: biases before the clamped SwiGLU and before the router weight, on both
// paths.
TEST_F(CudaMoeKernelsTest, ClampedSwigluWithBiasesMatchesTheReference) {
  for (MoePath path : {MoePath::kDecode, MoePath::kPrefill}) {
    SCOPED_TRACE(path == MoePath::kDecode ? "decode" : "prefill");
    Layer layer(path == MoePath::kDecode ? 9 : 300, 8, 4, 256, 128, 21);
    layer.UseClampedSwigluWithBiases(22);
    MoePlanOptions options;
    options.path = path;
    CheckLayer(layer, layer.Plan(options), true);
  }
}

TEST_F(CudaMoeKernelsTest, WithoutProgrammaticLaunchResultsAreTheSame) {
  Layer layer(40, 16, 4, 128, 64, 9);
  for (MoePath path : {MoePath::kDecode, MoePath::kPrefill}) {
    MoePlanOptions options;
    options.path = path;
    options.programmatic_launch = false;
    CheckLayer(layer, layer.Plan(options), true);
  }
}

// Captures the layer in a CUDA graph and checks three replays against the reference.
void CheckGraphReplay(const Layer& layer) {
  const MoeProblem& problem = layer.problem;
  const MoePlan plan = layer.Plan();
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  DeviceMemory ws_mem(plan.workspace_bytes), out(sizeof(float) * problem.tokens * problem.hidden);
  ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), stream), "");
  const std::vector<float> logits = DistinctLogits(problem.tokens, problem.experts, 13);
  auto d_logits = Upload(logits);
  MoeLayerArgs args;
  args.x = layer.d_x->get();
  args.routing.logits = d_logits->get<float>();
  args.weights = layer.weights();
  args.out = out.get<float>();
  args.workspace = ws_mem.get();
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(LaunchMoeLayer(problem, plan, args, stream), "");
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  std::vector<int32_t> ids(problem.tokens * problem.top_k);
  std::vector<float> weights(ids.size());
  ref::RouteTopk(logits.data(), problem.tokens, problem.experts, problem.top_k, true, ids.data(),
                 weights.data());
  const std::vector<float> want = layer.Reference(plan, ids, weights);
  for (int replay = 0; replay < 3; ++replay) {
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_LT(RelativeError(Download(out.get<float>(), want.size()), want), LayerTolerance(plan))
        << replay;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST_F(CudaMoeKernelsTest, LayerReplaysFromACudaGraph) {
  CheckGraphReplay(Layer(16, 128, 8, 256, 64, 12));
}

// ---- fp8 block-scaled weights (kFp8Block128: w8a16 at decode, w8a8 on the wgmma prefill tile) --

// The bit move behind the decode kernel's dequantization, for every pair of e4m3 bytes that is
// not NaN: times 2^120 it must be the fp8 value exactly (subnormals included).
TEST(MoeFp8FormatTest, BitsToBf16AreExactForEveryE4M3Value) {
  for (uint32_t lo = 0; lo < 256; ++lo) {
    for (uint32_t hi : {lo, 255 - lo, (lo * 37) % 256}) {
      if ((lo & 0x7f) == 0x7f || (hi & 0x7f) == 0x7f) continue;
      const uint32_t bits = Fp8x2ToBf16x2Bits(lo | hi << 8 | 0xabcd0000u);  // high bytes ignored
      EXPECT_EQ(std::ldexp(ref::Bf16ToF32(bits & 0xffff), 120),
                FP8E4M3ToF32(static_cast<uint8_t>(lo)))
          << "byte " << lo;
      EXPECT_EQ(std::ldexp(ref::Bf16ToF32(bits >> 16), 120), FP8E4M3ToF32(static_cast<uint8_t>(hi)))
          << "byte " << hi;
    }
  }
  EXPECT_EQ(ref::Bf16ToF32(kBf16x2TwoPow120 & 0xffff), std::ldexp(1.0f, 120));
  EXPECT_EQ(kBf16x2TwoPow120 >> 16, kBf16x2TwoPow120 & 0xffff);
}

// quantizer.fp8's block rule on a shape with partial edge blocks: grid size, each block's
// largest element on 448 * scale, and a small error.
TEST(MoeFp8FormatTest, QuantizeBlock128KeepsEachBlocksScale) {
  const int64_t rows = 200, cols = 300;
  std::vector<float> w = RandomF32(rows * cols, 1.0f, 4);
  w[5 * cols + 7] = 50.0f;  // one loud block
  const ref::Fp8Matrix q = ref::QuantizeFp8Block128(w.data(), rows, cols);
  ASSERT_EQ(q.scales.size(), 2u * 3u);
  ASSERT_EQ(q.values.size(), static_cast<size_t>(rows * cols));
  EXPECT_FLOAT_EQ(q.scales[0], 50.0f / 448.0f);
  EXPECT_EQ(q.values[5 * cols + 7], 0x7e);  // 448
  const std::vector<float> back = ref::DequantizeFp8Block128(q, rows, cols);
  double err = 0, norm = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (i == 5 * cols + 7) continue;
    err += (back[i] - w[i]) * static_cast<double>(back[i] - w[i]);
    norm += static_cast<double>(w[i]) * w[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.2);  // the loud block loses its small values
  EXPECT_EQ(back[5 * cols + 7], 50.0f);
  // Blocks without the loud element quantize at the usual e4m3 error.
  double err_quiet = 0, norm_quiet = 0;
  for (int64_t r = 128; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double d = back[r * cols + c] - w[r * cols + c];
      err_quiet += d * d;
      norm_quiet += static_cast<double>(w[r * cols + c]) * w[r * cols + c];
    }
  }
  EXPECT_LT(std::sqrt(err_quiet / norm_quiet), 4e-2);
}

// w8a8's activation rule per row and 128 columns: a partial last group, an all-zero group
// (scale 1), a loud element on 448 * scale, and the e4m3 error elsewhere.
TEST(MoeFp8FormatTest, QuantizeRows128ScalesEachRowGroup) {
  const int64_t rows = 3, cols = 300;  // groups of 128, 128 and 44
  std::vector<float> x = RandomF32(rows * cols, 1.0f, 5);
  std::fill(x.begin() + cols + 128, x.begin() + cols + 256, 0.0f);
  x[2 * cols + 260] = -30.0f;
  const ref::Fp8Matrix q = ref::QuantizeFp8Rows128(x.data(), rows, cols);
  ASSERT_EQ(q.scales.size(), 3u * 3u);
  EXPECT_EQ(q.scales[1 * 3 + 1], 1.0f);
  for (int64_t c = 128; c < 256; ++c) EXPECT_EQ(q.values[cols + c], 0);
  EXPECT_FLOAT_EQ(q.scales[2 * 3 + 2], 30.0f / 448.0f);
  EXPECT_EQ(q.values[2 * cols + 260], 0xfe);  // -448
  const std::vector<float> back = ref::DequantizeFp8Rows128(q, rows, cols);
  EXPECT_EQ(back[2 * cols + 260], -30.0f);
  double err = 0, norm = 0;
  for (int64_t c = 0; c < 256; ++c) {  // row 2's quiet groups
    err += std::pow(back[2 * cols + c] - x[2 * cols + c], 2);
    norm += std::pow(x[2 * cols + c], 2);
  }
  EXPECT_LT(std::sqrt(err / norm), 4e-2);
  EXPECT_GT(std::sqrt(err / norm), 1e-3);  // it did quantize
}

TEST(MoeFp8FormatTest, BytesAndScaleCountsPerFormat) {
  EXPECT_EQ(MoeMatrixBytes(MoeWeightFormat::kBf16, 2 * 14336, 4096), int64_t{2} * 28672 * 4096);
  EXPECT_EQ(MoeMatrixBytes(MoeWeightFormat::kFp8Block128, 2 * 14336, 4096), int64_t{28672} * 4096);
  EXPECT_EQ(MoeScaleCount(MoeWeightFormat::kBf16, 4096, 14336), 0);
  EXPECT_EQ(MoeScaleCount(MoeWeightFormat::kFp8Block128, 4096, 14336), 32 * 112);
  EXPECT_EQ(MoeScaleCount(MoeWeightFormat::kFp8Block128, 200, 300), 2 * 3);
}

// Refused before any launch, so this needs no GPU.
TEST(MoeFp8FormatTest, GemmsRefuseFp8WithoutScales) {
  const MoeProblem problem{4, 8, 2, 256, 128};
  const void* dummy[1] = {nullptr};
  MoeWeightsView view{dummy, dummy};
  view.format = MoeWeightFormat::kFp8Block128;
  for (MoePath path : {MoePath::kDecode, MoePath::kPrefill}) {
    MoePlanOptions options;
    options.path = path;
    const MoePlan plan = PlanMoe(problem, options);
    EXPECT_NE(LaunchGateUp(problem, plan, nullptr, view, MoeWorkspaceView{}, nullptr), "");
    EXPECT_NE(LaunchDown(problem, plan, view, MoeWorkspaceView{}, nullptr, nullptr), "");
  }
}

TEST_F(CudaMoeKernelsTest, Fp8DecodeGemmsMatchTheReferenceForEveryTokenTile) {
  for (int tiles : {1, 2, 4, 8}) {
    for (int64_t tokens : {1, 9, 70}) {
      SCOPED_TRACE(::testing::Message() << tiles << " token tiles, " << tokens << " tokens");
      // I = 96: gate_up's 192 rows end in a partial scale block, down's K = 96 in a partial
      // 64-wide step and a partial 128-wide k block.
      Layer layer(tokens, 8, 2, 256, 96, 5, MoeWeightFormat::kFp8Block128);
      MoePlanOptions options;
      options.path = MoePath::kDecode;
      options.token_tiles = tiles;
      CheckLayer(layer, layer.Plan(options), false);
    }
  }
}

TEST_F(CudaMoeKernelsTest, Fp8DecodeHandlesKTailsAndManyExperts) {
  Layer layer(33, 64, 6, 96, 48, 6, MoeWeightFormat::kFp8Block128);  // K = 96, 48
  CheckLayer(layer, layer.Plan(), true);
}

// fp8 prefill: the w8a8 and the w8a16 wgmma kernels (I % 128 == 0, H % 256 == 0) and the w8a16
// mma.sync tile (the rest).
TEST_F(CudaMoeKernelsTest, Fp8PrefillGemmsMatchTheReference) {
  struct Shape {
    int64_t hidden, inter;
    bool wgmma;
  };
  // I = 128 and 384: one and three gate_up tiles; H = 512: two down tiles; I = 192 and H = 384:
  // the mma.sync tile (whose up rows start mid scale block at I = 192).
  for (const Shape& shape : {Shape{256, 128, true}, Shape{256, 384, true}, Shape{512, 256, true},
                             Shape{256, 192, false}, Shape{384, 256, false}}) {
    for (int64_t tokens : {3, 200, 601}) {
      // On the wgmma tile, w8a8 and (weight-only) w8a16.
      for (bool fp8_activations : {true, false}) {
        SCOPED_TRACE(::testing::Message()
                     << "H " << shape.hidden << ", I " << shape.inter << ", " << tokens
                     << " tokens, fp8 activations " << fp8_activations);
        Layer layer(tokens, 8, 2, shape.hidden, shape.inter, 8, MoeWeightFormat::kFp8Block128);
        ASSERT_EQ(WgmmaPrefillFits(layer.problem, layer.weights()), shape.wgmma);
        MoePlanOptions options;
        options.path = MoePath::kPrefill;
        options.fp8_activations = fp8_activations;
        const MoePlan plan = layer.Plan(options);
        ASSERT_EQ(plan.path, MoePath::kPrefill);
        ASSERT_EQ(plan.fp8_activations, shape.wgmma && fp8_activations);
        CheckLayer(layer, plan, true);
      }
    }
  }
}

// The activation quantizer of w8a8 must match its reference byte for byte (the GEMMs'
// references quantize the same way, so any drift here would hide in their tolerance), with its
// scales k block-major.
TEST_F(CudaMoeKernelsTest, QuantizeFp8RowsMatchesTheReferenceByteForByte) {
  const int64_t rows = 37, cols = 512, ld = 40;
  std::vector<uint16_t> x = RandomBf16(rows * cols, 3.0f, 61);
  std::fill(x.begin() + 5 * cols + 128, x.begin() + 5 * cols + 256, 0);  // scale 1
  x[7 * cols + 3] = ref::F32ToBf16(1000.0f);                             // a loud group
  for (int64_t c = 0; c < 128; ++c) x[9 * cols + c] = ref::F32ToBf16(1e-30f * (c - 64));
  auto d_x = Upload(x);
  DeviceMemory q(rows * cols), scales(sizeof(float) * ld * cols / 128);
  const W8a8Operand out{q.get<uint8_t>(), scales.get<float>(), ld};
  ASSERT_EQ(LaunchQuantizeFp8Rows(d_x->get(), rows, cols, out, false, nullptr), "");
  std::vector<float> xf(x.size());
  for (size_t i = 0; i < x.size(); ++i) xf[i] = ref::Bf16ToF32(x[i]);
  const ref::Fp8Matrix want = ref::QuantizeFp8Rows128(xf.data(), rows, cols);
  EXPECT_EQ(Download(q.get<uint8_t>(), want.values.size()), want.values);
  const std::vector<float> got = Download(scales.get<float>(), ld * cols / 128);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / 128; ++g)
      ASSERT_EQ(got[g * ld + r], want.scales[r * (cols / 128) + g])
          << "row " << r << " group " << g;
  }
  EXPECT_NE(LaunchQuantizeFp8Rows(d_x->get(), rows, 100, out, false, nullptr), "");
  EXPECT_NE(LaunchQuantizeFp8Rows(d_x->get(), rows, cols, W8a8Operand{out.rows, out.scales, 36},
                                  false, nullptr),
            "");
}

// w8a8's gate_up A: x quantized per token, then each row and its scales copied to the sorted
// positions of its slots, k block-major; positions outside every block (dropped slots) are left
// alone.
TEST_F(CudaMoeKernelsTest, GatherSortedFp8RowsCopiesRowsAndScalesToTheirPositions) {
  const MoeProblem problem{37, 4, 2, 512, 256};
  const int64_t slots = problem.tokens * problem.top_k, kept = 70, groups = 4;
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  options.format = MoeWeightFormat::kFp8Block128;
  const MoePlan plan = PlanMoe(problem, options);
  ASSERT_TRUE(plan.fp8_activations);
  DeviceMemory ws_mem(plan.workspace_bytes);
  ASSERT_EQ(cudaMemset(ws_mem.get(), 0xEE, plan.workspace_bytes), cudaSuccess);
  const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, ws_mem.get());
  // Positions [0, 70) in three blocks (one of a single row); the last 4 slots dropped.
  std::vector<int32_t> sorted(slots);
  std::iota(sorted.begin(), sorted.end(), 0);
  std::shuffle(sorted.begin(), sorted.end(), std::mt19937(9));
  const std::vector<BlockInfo> blocks = {{0, 0, 30, 0}, {1, 30, 31, 0}, {3, 31, kept, 0}};
  const auto put = [](void* to, const auto& from) {
    ASSERT_EQ(cudaMemcpy(to, from.data(), sizeof(from[0]) * from.size(), cudaMemcpyHostToDevice),
              cudaSuccess);
  };
  put(ws.sorted_slots, sorted);
  put(ws.blocks, blocks);
  put(ws.num_blocks, std::vector<int32_t>{static_cast<int32_t>(blocks.size())});
  const W8a8Operand tokens = W8a8TokenRowsOf(problem, ws);
  std::vector<uint8_t> rows(problem.tokens * problem.hidden);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<uint8_t>(i * 7 + i / 512);
  std::vector<float> scales(groups * tokens.scales_ld);
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.5f + static_cast<float>(i);
  put(tokens.rows, rows);
  put(tokens.scales, scales);

  const W8a8Operand out = W8a8OperandOf(true, problem, ws);
  ASSERT_EQ(LaunchGatherSortedFp8Rows(problem, plan, tokens, ws, out, nullptr), "");
  const auto got = Download(out.rows, slots * problem.hidden);
  const auto got_scales = Download(out.scales, groups * out.scales_ld);
  for (int64_t pos = 0; pos < slots; ++pos) {
    const int64_t token = sorted[pos] / problem.top_k;
    for (int64_t g = 0; g < groups; ++g) {
      const float scale = got_scales[g * out.scales_ld + pos];
      if (pos >= kept) {
        uint32_t bits;
        std::memcpy(&bits, &scale, 4);
        ASSERT_EQ(bits, 0xEEEEEEEEu) << "dropped position " << pos << " was written";
        continue;
      }
      ASSERT_EQ(scale, scales[g * tokens.scales_ld + token]) << "position " << pos;
    }
    for (int64_t c = 0; c < problem.hidden; ++c) {
      ASSERT_EQ(got[pos * problem.hidden + c],
                pos < kept ? rows[token * problem.hidden + c] : uint8_t{0xEE})
          << "position " << pos << " column " << c;
    }
  }
}

// The whole layer under `plan` with RandomRouting (seed 3), run by `launch` (LaunchMoeLayer's
// signature): its routing and output.
using LayerLaunch =
    std::function<std::string(const MoeProblem&, const MoePlan&, const MoeLayerArgs&, void*)>;
void RunRandomlyRoutedLayer(const Layer& layer, const MoePlan& plan, std::vector<int32_t>& ids,
                            std::vector<float>& weights, std::vector<float>& got,
                            const LayerLaunch& launch = LaunchMoeLayer) {
  const MoeProblem& problem = layer.problem;
  DeviceMemory ws_mem(plan.workspace_bytes), out(sizeof(float) * problem.tokens * problem.hidden);
  ASSERT_EQ(InitMoeWorkspace(ws_mem.get(), nullptr), "");
  RandomRouting(problem.tokens, problem.experts, problem.top_k, 3, ids, weights);
  auto d_ids = Upload(ids);
  auto d_w = Upload(weights);
  const MoeLayerArgs args = PreRoutedArgs(layer, *d_ids, *d_w, ws_mem, out);
  ASSERT_EQ(launch(problem, plan, args, nullptr), "");
  got = Download(out.get<float>(), problem.tokens * problem.hidden);
}

// A device other than sm_90 runs the mma.sync kernel where the plan (from the shape alone) chose
// blocks of 256 for the wgmma kernel: each block is then two CTAs of 128 slots. Here the layer's
// launches run with the mma.sync kernel in the wgmma kernel's place.
TEST_F(CudaMoeKernelsTest, MmaPrefillRunsBlocksOf256AsTwoSlices) {
  Layer layer(600, 8, 2, 256, 128, 8);  // 150 slots an expert
  MoePlanOptions options;
  options.path = MoePath::kPrefill;
  const MoePlan plan = layer.Plan(options);
  ASSERT_EQ(plan.block_m, 256);
  const LayerLaunch on_mma = [](const MoeProblem& problem, const MoePlan& plan,
                                const MoeLayerArgs& args, void* stream) {
    const MoeWorkspaceView ws = LayoutMoeWorkspace(problem, plan, args.workspace);
    std::string err = LaunchRouteAlign(problem, plan, args.routing, ws, nullptr, nullptr, stream);
    if (err.empty())
      err = LaunchMmaPrefillGemm(true, problem, plan, args.x, args.weights, ws, stream);
    if (err.empty())
      err = LaunchMmaPrefillGemm(false, problem, plan, ws.act, args.weights, ws, stream);
    if (err.empty()) err = LaunchCombine(problem, plan, ws, args.out, false, stream);
    return err;
  };
  std::vector<int32_t> ids;
  std::vector<float> weights, got;
  RunRandomlyRoutedLayer(layer, plan, ids, weights, got, on_mma);
  EXPECT_LT(RelativeError(got, layer.Reference(plan, ids, weights)), LayerTolerance(plan));
}

// What w8a8 costs in accuracy: against the layer with unquantized activations (w8a16 math) the
// output moves by about e4m3's rounding of x and act, not more.
TEST_F(CudaMoeKernelsTest, W8A8StaysCloseToUnquantizedActivations) {
  Layer layer(600, 8, 2, 512, 256, 63, MoeWeightFormat::kFp8Block128);
  const MoePlan plan = layer.Plan();
  ASSERT_EQ(plan.path, MoePath::kPrefill);
  ASSERT_TRUE(plan.fp8_activations);
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<float> got;
  ASSERT_NO_FATAL_FAILURE(RunRandomlyRoutedLayer(layer, plan, ids, weights, got));
  MoePlan w8a16 = plan;
  w8a16.fp8_activations = false;  // the reference's switch only
  const double error = RelativeError(got, layer.Reference(w8a16, ids, weights));
  EXPECT_LT(error, 5e-2);
  EXPECT_GT(error, 1e-3);  // the activations were quantized
  EXPECT_LT(RelativeError(got, layer.Reference(plan, ids, weights)), 1e-2);
}

TEST_F(CudaMoeKernelsTest, Fp8ClampedSwigluWithBiasesMatchesTheReference) {
  for (MoePath path : {MoePath::kDecode, MoePath::kPrefill}) {
    SCOPED_TRACE(path == MoePath::kDecode ? "decode" : "prefill");
    Layer layer(path == MoePath::kDecode ? 9 : 300, 8, 4, 256, 128, 21,
                MoeWeightFormat::kFp8Block128);
    layer.UseClampedSwigluWithBiases(22);
    MoePlanOptions options;
    options.path = path;
    CheckLayer(layer, layer.Plan(options), true);
  }
}

TEST_F(CudaMoeKernelsTest, Fp8LayerReplaysFromACudaGraph) {
  CheckGraphReplay(Layer(16, 128, 8, 256, 64, 12, MoeWeightFormat::kFp8Block128));
}

// Full model shapes (experts cut to what the host reference can afford), the whole layer on
// the plan's own path; the reference covers every `stride`-th token.
void CheckLayerSampled(const Layer& layer, const MoePlan& plan, int64_t stride) {
  const MoeProblem& problem = layer.problem;
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<float> got;
  ASSERT_NO_FATAL_FAILURE(RunRandomlyRoutedLayer(layer, plan, ids, weights, got));
  for (int64_t t = 0; t < problem.tokens; t += stride) {
    const std::vector<float> want = layer.Reference(plan, ids, weights, t, 1);
    const std::vector<float> row(got.begin() + t * problem.hidden,
                                 got.begin() + (t + 1) * problem.hidden);
    EXPECT_LT(RelativeError(row, want), LayerTolerance(plan)) << "token " << t;
  }
}

TEST_F(CudaMoeKernelsTest, Fp8MixtralShapeMatchesTheReference) {
  // Mixtral-8x7B's expert shape with 4 of its 8 experts (host memory for the f32 reference); the
  // first 1 and all 5 tokens of one layer, on the plan's paths: decode, then prefill (w8a8, from
  // one slot per expert).
  Layer layer(5, 4, 2, 4096, 14336, 31, MoeWeightFormat::kFp8Block128);
  for (int64_t tokens : {1, 5}) {
    SCOPED_TRACE(::testing::Message() << tokens << " tokens");
    layer.problem.tokens = tokens;
    const MoePlan plan = layer.Plan();
    ASSERT_EQ(plan.path, tokens == 1 ? MoePath::kDecode : MoePath::kPrefill);
    CheckLayerSampled(layer, plan, 1);
  }
}

TEST_F(CudaMoeKernelsTest, Fp8DeepSeekShapeMatchesTheReference) {
  // DeepSeek-V3's expert shape, top-8 of 16 experts (of 256): the first 3 tokens on the decode
  // kernels, then all 257 on the plan's path, prefill (w8a8).
  Layer layer(257, 16, 8, 7168, 2048, 41, MoeWeightFormat::kFp8Block128);
  layer.problem.tokens = 3;
  MoePlanOptions decode;
  decode.path = MoePath::kDecode;
  CheckLayerSampled(layer, layer.Plan(decode), 1);
  layer.problem.tokens = 257;
  const MoePlan plan = layer.Plan();
  ASSERT_EQ(plan.path, MoePath::kPrefill);
  CheckLayerSampled(layer, plan, 32);
}

TEST_F(CudaMoeKernelsTest, PrefillAtModelShapesMatchesTheReference) {
  // The wgmma prefill kernel over long K (64 and 224 k tiles: the stage ring wraps many times):
  // Mixtral-8x7B's expert shape with 2 of its experts, and DeepSeek-V3's, top-8 of 16 experts.
  struct Case {
    int64_t tokens;
    int experts, top_k;
    int64_t hidden, inter;
  };
  for (const Case& c : {Case{300, 2, 2, 4096, 14336}, Case{257, 16, 8, 7168, 2048}}) {
    Layer layer(c.tokens, c.experts, c.top_k, c.hidden, c.inter, 43);
    ASSERT_TRUE(WgmmaPrefillFits(layer.problem, layer.weights()));
    for (const auto& [block_m, half_tiles] : {std::pair(64, true), std::pair(128, true),
                                              std::pair(128, false), std::pair(256, false)}) {
      SCOPED_TRACE(::testing::Message() << "H " << c.hidden << ", I " << c.inter << ", blocks of "
                                        << block_m << ", half tiles " << half_tiles);
      MoePlanOptions options;
      options.path = MoePath::kPrefill;
      options.prefill_block_m = block_m;
      options.prefill_half_tiles = half_tiles;
      CheckLayerSampled(layer, layer.Plan(options), 16);
    }
  }
}

// ---- int4 group-quantized weights (kU4Group128, w4a16) -----------------------------------------

// The decode kernel's nibble move: 128 + q by bits, minus 128 + zero, is q - zero exactly.
TEST(MoeU4FormatTest, BitsToBf16GiveQMinusZeroExactly) {
  for (uint32_t byte = 0; byte < 256; ++byte) {
    const uint32_t bits = U4x2ToBf16x2Plus128Bits(byte | 0x5a00u);  // higher bytes ignored
    EXPECT_EQ(ref::Bf16ToF32(bits & 0xffff), 128.0f + static_cast<float>(byte & 0xf));
    EXPECT_EQ(ref::Bf16ToF32(bits >> 16), 128.0f + static_cast<float>(byte >> 4));
  }
  for (uint32_t zero = 0; zero < 16; ++zero) {
    const uint32_t z = Bf16x2Of128Plus(zero);
    EXPECT_EQ(ref::Bf16ToF32(z & 0xffff), 128.0f + static_cast<float>(zero));
    EXPECT_EQ(z >> 16, z & 0xffff);
  }
}

TEST(MoeU4FormatTest, PlansDecodeOnlyAndPrefillRefusesInt4) {
  const MoeProblem problem{4096, 8, 2, 256, 128};
  MoePlanOptions options;
  options.format = MoeWeightFormat::kU4Group128;
  EXPECT_EQ(PlanMoe(problem, options).path, MoePath::kDecode);
  options.path = MoePath::kPrefill;
  EXPECT_EQ(PlanMoe(problem, options).path, MoePath::kDecode);
  EXPECT_EQ(MoeMatrixBytes(MoeWeightFormat::kU4Group128, 256, 128), 256 * 64);
  EXPECT_EQ(MoeScaleCount(MoeWeightFormat::kU4Group128, 256, 384), 256 * 3);
  const void* dummy[1] = {nullptr};
  MoeWeightsView view{dummy, dummy};
  view.format = MoeWeightFormat::kU4Group128;
  MoePlanOptions prefill;
  prefill.path = MoePath::kPrefill;
  EXPECT_NE(
      LaunchGateUp(problem, PlanMoe(problem, prefill), nullptr, view, MoeWorkspaceView{}, nullptr),
      "");
  // Without scales and zero points the decode kernels refuse too.
  EXPECT_NE(
      LaunchGateUp(problem, PlanMoe(problem, options), nullptr, view, MoeWorkspaceView{}, nullptr),
      "");
}

MoePlan DecodeOnlyPlan(const MoeProblem& problem, int token_tiles = 0) {
  MoePlanOptions options;
  options.format = MoeWeightFormat::kU4Group128;
  options.token_tiles = token_tiles;
  return PlanMoe(problem, options);
}

TEST_F(CudaMoeKernelsTest, U4DecodeGemmsMatchTheReferenceForEveryTokenTile) {
  for (int tiles : {1, 2, 4, 8}) {
    for (int64_t tokens : {1, 9, 70}) {
      SCOPED_TRACE(::testing::Message() << tiles << " token tiles, " << tokens << " tokens");
      Layer layer(tokens, 8, 2, 256, 128, 5, MoeWeightFormat::kU4Group128);
      CheckLayer(layer, DecodeOnlyPlan(layer.problem, tiles), false);
    }
  }
}

TEST_F(CudaMoeKernelsTest, U4DecodeManyExpertsAndABigBatchStayOnDecode) {
  Layer layer(33, 64, 6, 384, 256, 6, MoeWeightFormat::kU4Group128);
  CheckLayer(layer, DecodeOnlyPlan(layer.problem), true);
  Layer big(600, 8, 2, 256, 128, 7, MoeWeightFormat::kU4Group128);  // 150 slots per expert
  const MoePlan plan = DecodeOnlyPlan(big.problem);
  ASSERT_EQ(plan.path, MoePath::kDecode);
  CheckLayer(big, plan, true);
}

TEST_F(CudaMoeKernelsTest, U4LayerReplaysFromACudaGraph) {
  CheckGraphReplay(Layer(16, 128, 8, 256, 128, 12, MoeWeightFormat::kU4Group128));
}

TEST_F(CudaMoeKernelsTest, U4ModelShapesMatchTheReference) {
  Layer mixtral(3, 4, 2, 4096, 14336, 51, MoeWeightFormat::kU4Group128);
  CheckLayerSampled(mixtral, DecodeOnlyPlan(mixtral.problem), 1);
  Layer deepseek(5, 16, 8, 7168, 2048, 52, MoeWeightFormat::kU4Group128);
  CheckLayerSampled(deepseek, DecodeOnlyPlan(deepseek.problem), 1);
}

TEST_F(CudaMoeKernelsTest, HelpersConvertRouteSharedExpertsAndFill) {
  const std::vector<float> x = RandomF32(3 * 64, 1.0f, 1), gate = RandomF32(64, 0.2f, 2);
  auto d_x = Upload(x);
  auto d_gate = Upload(gate);
  DeviceMemory bf(sizeof(uint16_t) * x.size()), ids(3 * 4), w(3 * 4);
  ASSERT_EQ(LaunchF32ToBF16(d_x->get<float>(), bf.get<uint16_t>(), x.size(), nullptr), "");
  const auto b = Download(bf.get<uint16_t>(), x.size());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(b[i], ref::F32ToBf16(x[i]));
  ASSERT_EQ(LaunchSharedRouting(d_x->get<float>(), d_gate->get<float>(), 3, 64, ids.get<int32_t>(),
                                w.get<float>(), nullptr),
            "");
  const auto got_w = Download(w.get<float>(), 3);
  for (int t = 0; t < 3; ++t) {
    double dot = 0;
    for (int c = 0; c < 64; ++c) dot += x[t * 64 + c] * gate[c];
    EXPECT_NEAR(got_w[t], 1.0 / (1.0 + std::exp(-dot)), 1e-5);
  }
  EXPECT_EQ(Download(ids.get<int32_t>(), 3), (std::vector<int32_t>{0, 0, 0}));
  DeviceMemory fill(sizeof(float) * 1000);
  ASSERT_EQ(LaunchFillUniformF32(fill.get<float>(), 1000, 0.5f, 3, nullptr), "");
  const auto f = Download(fill.get<float>(), 1000);
  double mean = 0;
  for (float v : f) {
    ASSERT_LE(std::abs(v), 0.5f);
    mean += v / 1000;
  }
  EXPECT_LT(std::abs(mean), 0.05);
}

// Expert parallelism's rows: each packed row is its token's bf16 input then its own tail, and
// each token adds its returned rows in the listed order onto what it had.
TEST_F(CudaMoeKernelsTest, ExpertParallelRowsPackAndAddBack) {
  const int64_t tokens = 5, hidden = 6, tail_words = 4;
  std::vector<uint16_t> x(tokens * hidden);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint16_t>(1000 + i);
  const std::vector<int32_t> row_token = {3, 0, 3, 4};  // rows for two ranks: {3}, {0, 3, 4}
  std::vector<int32_t> tails(row_token.size() * tail_words);
  for (size_t i = 0; i < tails.size(); ++i) tails[i] = static_cast<int32_t>(-7 * i);
  auto d_x = Upload(x);
  auto d_rows = Upload(row_token);
  auto d_tails = Upload(tails);
  const int64_t row_bytes = 2 * hidden + 4 * tail_words, rows = std::ssize(row_token);
  DeviceMemory packed(rows * row_bytes);
  ASSERT_EQ(LaunchPackDispatchRows(d_x->get<uint16_t>(), 2 * hidden, d_rows->get<int32_t>(),
                                   d_tails->get<uint8_t>(), 4 * tail_words, rows,
                                   packed.get<uint8_t>(), nullptr),
            "");
  const auto got = Download(packed.get<uint8_t>(), rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<uint16_t> hidden_part(hidden);
    std::vector<int32_t> tail(tail_words);
    std::memcpy(hidden_part.data(), got.data() + r * row_bytes, 2 * hidden);
    std::memcpy(tail.data(), got.data() + r * row_bytes + 2 * hidden, 4 * tail_words);
    EXPECT_EQ(hidden_part, std::vector<uint16_t>(x.begin() + row_token[r] * hidden,
                                                 x.begin() + (row_token[r] + 1) * hidden));
    EXPECT_EQ(tail, std::vector<int32_t>(tails.begin() + r * tail_words,
                                         tails.begin() + (r + 1) * tail_words));
  }
  EXPECT_EQ(
      LaunchPackDispatchRows(d_x->get<uint16_t>(), 10, d_rows->get<int32_t>(),
                             d_tails->get<uint8_t>(), 16, rows, packed.get<uint8_t>(), nullptr),
      "sm90_pack_dispatch_rows: payloads and tails must be whole 4-byte words");

  // Token 3 gets rows 0 and 2, tokens 0 and 4 one each, tokens 1 and 2 none.
  const std::vector<int32_t> token_begin = {0, 1, 1, 1, 3, 4}, token_rows = {1, 0, 2, 3};
  const std::vector<float> returned = RandomF32(rows * hidden, 1.0f, 9),
                           before = RandomF32(tokens * hidden, 1.0f, 10);
  auto d_returned = Upload(returned);
  auto d_begin = Upload(token_begin);
  auto d_token_rows = Upload(token_rows);
  auto d_out = Upload(before);
  ASSERT_EQ(LaunchAddTokenRows(d_returned->get<float>(), hidden, d_begin->get<int32_t>(),
                               d_token_rows->get<int32_t>(), tokens, d_out->get<float>(), nullptr),
            "");
  const auto out = Download(d_out->get<float>(), tokens * hidden);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < hidden; ++c) {
      float want = before[t * hidden + c];
      for (int32_t i = token_begin[t]; i < token_begin[t + 1]; ++i)
        want += returned[token_rows[i] * hidden + c];
      EXPECT_EQ(out[t * hidden + c], want) << t << "," << c;
    }
  }
}

// A fill drawn in slices from an offset is the same fill.
TEST_F(CudaMoeKernelsTest, FillFromAnOffsetDrawsTheSameValues) {
  DeviceMemory whole(2 * 1000), parts(2 * 1000);
  ASSERT_EQ(LaunchFillUniformBF16(whole.get<uint16_t>(), 1000, 0.5f, 7, nullptr), "");
  ASSERT_EQ(LaunchFillUniformBF16(parts.get<uint16_t>() + 600, 400, 0.5f, 7, nullptr, 600), "");
  ASSERT_EQ(LaunchFillUniformBF16(parts.get<uint16_t>(), 600, 0.5f, 7, nullptr, 0), "");
  EXPECT_EQ(Download(parts.get<uint16_t>(), 1000), Download(whole.get<uint16_t>(), 1000));
}

}  // namespace
}  // namespace sy::kernels
