// The experts conformance suite: every experts component on the plugin search path computes
// the MoE expert function (plugin_abi.h, sy_expert_weights) for every stored format it says
// it supports, checked against a double-precision reference written out below that shares
// no code with the plugins (its own dequantization included).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/plugin_host/experts.h"
#include "core/tensor/tensor_random.h"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

constexpr int kExperts = 4;
constexpr int64_t kHidden = 64, kInter = 32, kSharedInter = 16;

// Storage formats, each filled from f32 by the test itself: value codes are drawn directly,
// so the reference below knows every stored number exactly.
struct Format {
  const char* name;
  sy_qlayout layout;
};

const Format kFormats[] = {
    {"f32", {sizeof(sy_qlayout), SY_DTYPE_F32, 1, 1, 0, 0}},
    {"bf16", {sizeof(sy_qlayout), SY_DTYPE_BF16, 1, 1, 0, 0}},
    {"fp8_block", {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 16, 16, 1, 0}},
    // DeepSeek-V3's block (experts.cuda's fp8 format); one partial block at these shapes.
    {"fp8_block128", {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 128, 128, 1, 0}},
    {"i8_channel", {sizeof(sy_qlayout), SY_DTYPE_I8, 1, 1 << 20, 1, 0}},
    {"u4_group_zero", {sizeof(sy_qlayout), SY_DTYPE_U4, 1, 16, 1, 1}},
};

double Reference(const QTensor& q, int64_t r, int64_t c) {
  const auto* bytes = static_cast<const uint8_t*>(q.values.raw_data());
  const int64_t i = r * q.cols() + c;
  double v = 0;
  switch (static_cast<DType>(q.layout.dtype)) {
    case DType::kF32:
      return q.values.data<float>()[i];
    case DType::kBF16: {
      const uint32_t bits = static_cast<uint32_t>(q.values.data<uint16_t>()[i]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DType::kFP8E4M3: {
      const int b = bytes[i], e = (b >> 3) & 15, m = b & 7;
      v = e == 0 ? m / 512.0 : (1 + m / 8.0) * std::pow(2.0, e - 7);
      v = (b & 0x80) ? -v : v;
      break;
    }
    case DType::kI8:
      v = static_cast<int8_t>(bytes[i]);
      break;
    case DType::kU4:
      v = (i % 2) ? (bytes[i / 2] >> 4) : (bytes[i / 2] & 15);
      break;
    default:
      ADD_FAILURE() << "no reference for dtype " << q.layout.dtype;
  }
  const int64_t sr = r / q.layout.block_rows, sc = c / q.layout.block_cols;
  const int64_t scale_cols = q.scales.dim(1);
  const double zero = q.layout.has_zeros ? q.zeros.data<uint8_t>()[sr * scale_cols + sc] : 0.0;
  return (v - zero) * q.scales.data<float>()[sr * scale_cols + sc];
}

// A random matrix stored in `format`: random codes, scales around 1/sqrt(cols).
QTensor RandomStored(const Format& format, int64_t rows, int64_t cols, uint64_t seed) {
  QTensor q = *QTensor::Allocate(format.layout, rows, cols);
  auto* bytes = static_cast<uint8_t*>(q.values.raw_data());
  const double width = 1.0 / std::sqrt(static_cast<double>(cols));
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double u = UniformAt(seed, i);
    switch (static_cast<DType>(format.layout.dtype)) {
      case DType::kF32:
        q.values.data<float>()[i] = static_cast<float>((2 * u - 1) * width);
        break;
      case DType::kBF16:
        q.values.data<uint16_t>()[i] = F32ToBF16(static_cast<float>((2 * u - 1) * width));
        break;
      case DType::kFP8E4M3:
        bytes[i] = F32ToFP8E4M3(static_cast<float>((2 * u - 1) * 448));
        break;
      case DType::kI8:
        bytes[i] = static_cast<uint8_t>(static_cast<int>(u * 255) - 127);
        break;
      case DType::kU4:
        SetNibble(bytes, i, static_cast<uint8_t>(u * 16));
        break;
      default:
        break;
    }
  }
  if (format.layout.has_scales) {
    const double code_range = format.layout.dtype == SY_DTYPE_FP8_E4M3 ? 448
                              : format.layout.dtype == SY_DTYPE_I8     ? 127
                                                                       : 8;
    for (int64_t i = 0; i < q.scales.numel(); ++i)
      q.scales.data<float>()[i] =
          static_cast<float>(width / code_range * (0.5 + UniformAt(seed + 1, i)));
  }
  if (format.layout.has_zeros) {
    for (int64_t i = 0; i < q.zeros.numel(); ++i)
      q.zeros.data<uint8_t>()[i] = static_cast<uint8_t>(6 + UniformAt(seed + 2, i) * 4);
  }
  return q;
}

// One expert applied to one token, in double precision.
std::vector<double> ExpertReference(const QTensor& gate_up, const QTensor& down, int64_t inter,
                                    const float* x) {
  std::vector<double> a(inter), y(kHidden, 0.0);
  for (int64_t i = 0; i < inter; ++i) {
    double g = 0, u = 0;
    for (int64_t c = 0; c < kHidden; ++c) {
      g += Reference(gate_up, i, c) * x[c];
      u += Reference(gate_up, inter + i, c) * x[c];
    }
    a[i] = g / (1 + std::exp(-g)) * u;
  }
  for (int64_t c = 0; c < kHidden; ++c) {
    for (int64_t i = 0; i < inter; ++i) y[c] += Reference(down, c, i) * a[i];
  }
  return y;
}

class ExpertsConformanceTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {
 protected:
  void SetUp() override {
    auto component = Component::Create(*DiscoveredPlugins().Find(std::get<0>(GetParam())), {});
    ASSERT_TRUE(component.ok()) << component.status();
    experts_.emplace(*Experts::From(*component));
    format_ = &kFormats[std::get<1>(GetParam())];
    if (!experts_->Supports(format_->layout)) GTEST_SKIP() << "does not support " << format_->name;
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    weights_.hidden = kHidden;
    weights_.intermediate = kInter;
    for (int e = 0; e < kExperts; ++e) {
      weights_.gate_up.push_back(RandomStored(*format_, 2 * kInter, kHidden, 100 + e));
      weights_.down.push_back(RandomStored(*format_, kHidden, kInter, 200 + e));
    }
  }
  RouterOutput Routing(int64_t tokens, int k) {
    RouterOutput r{*Tensor::Empty({tokens, k}, DType::kI32),
                   *Tensor::Empty({tokens, k}, DType::kF32)};
    for (int64_t t = 0; t < tokens; ++t) {
      for (int j = 0; j < k; ++j) {
        // Distinct experts per token; every fifth token drops its last slot.
        const bool dropped = j == k - 1 && t % 5 == 4;
        r.expert_ids.data<int32_t>()[t * k + j] =
            dropped ? -1 : static_cast<int32_t>((t + j * 3) % kExperts);
        r.expert_weights.data<float>()[t * k + j] = dropped ? 0.0f : 0.3f + 0.2f * j;
      }
    }
    return r;
  }
  void ExpectMatchesReference(const Tensor& x, const RouterOutput& routing, const Tensor& out) {
    const int64_t k = routing.expert_ids.dim(1);
    double err = 0, norm = 0;
    for (int64_t t = 0; t < x.dim(0); ++t) {
      std::vector<double> expected(kHidden, 0.0);
      const float* xt = x.data<float>() + t * kHidden;
      for (int64_t j = 0; j < k; ++j) {
        const int32_t e = routing.expert_ids.data<int32_t>()[t * k + j];
        if (e < 0) continue;
        const auto y = ExpertReference(weights_.gate_up[e], weights_.down[e], kInter, xt);
        for (int64_t c = 0; c < kHidden; ++c)
          expected[c] += routing.expert_weights.data<float>()[t * k + j] * y[c];
      }
      if (weights_.shared_intermediate > 0) {
        double dot = 0;
        for (int64_t c = 0; c < kHidden; ++c) dot += weights_.shared_gate->data<float>()[c] * xt[c];
        const auto y =
            ExpertReference(*weights_.shared_gate_up, *weights_.shared_down, kSharedInter, xt);
        for (int64_t c = 0; c < kHidden; ++c) expected[c] += y[c] / (1 + std::exp(-dot));
      }
      for (int64_t c = 0; c < kHidden; ++c) {
        const double d = out.Get(t * kHidden + c) - expected[c];
        err += d * d;
        norm += expected[c] * expected[c];
      }
    }
    EXPECT_LT(std::sqrt(err / norm), Tolerance()) << format_->name;
  }
  // Tensor-core plugins round activations to bf16 (as vLLM and torch do), which costs about
  // 3e-3 of relative error; the others compute in f32.
  double Tolerance() const {
    return std::get<0>(GetParam()) == "experts.cuda" ? 1e-2 : 1e-5;
  }
  std::optional<Experts> experts_;
  const Format* format_ = nullptr;
  std::unique_ptr<ExecContext> ctx_;
  ExpertWeights weights_;
};

TEST_P(ExpertsConformanceTest, MatchesTheReference) {
  for (int64_t tokens : {1, 7, 33}) {
    Tensor x = *RandomNormal({tokens, kHidden}, 9 + tokens);
    const RouterOutput routing = Routing(tokens, 2);
    auto out = experts_->Forward(*ctx_, x, routing, weights_);
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectMatchesReference(x, routing, *out);
  }
}

TEST_P(ExpertsConformanceTest, AddsTheGatedSharedExpert) {
  weights_.shared_intermediate = kSharedInter;
  weights_.shared_gate_up = RandomStored(*format_, 2 * kSharedInter, kHidden, 300);
  weights_.shared_down = RandomStored(*format_, kHidden, kSharedInter, 301);
  weights_.shared_gate = *RandomNormal({kHidden}, 302, 0.0f, 0.1f);
  Tensor x = *RandomNormal({6, kHidden}, 10);
  const RouterOutput routing = Routing(6, 3);
  auto out = experts_->Forward(*ctx_, x, routing, weights_);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectMatchesReference(x, routing, *out);
}

TEST_P(ExpertsConformanceTest, RefusesOutOfRangeExpertIds) {
  RouterOutput routing = Routing(2, 1);
  routing.expert_ids.data<int32_t>()[1] = kExperts;
  EXPECT_FALSE(experts_->Forward(*ctx_, *RandomNormal({2, kHidden}, 1), routing, weights_).ok());
}

TEST_P(ExpertsConformanceTest, HandlesAnEmptyBatch) {
  auto out =
      experts_->Forward(*ctx_, *Tensor::Empty({0, kHidden}, DType::kF32), Routing(0, 2), weights_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->numel(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    AllExperts, ExpertsConformanceTest,
    ::testing::Combine(::testing::ValuesIn(ComponentNames(SY_KIND_EXPERTS)),
                       ::testing::Range(0, static_cast<int>(std::size(kFormats)))),
    [](const auto& info) {
      return ComponentTestName(std::get<0>(info.param)) + "_" +
             kFormats[std::get<1>(info.param)].name;
    });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ExpertsConformanceTest);

}  // namespace
}  // namespace sy
