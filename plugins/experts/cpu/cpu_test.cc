// experts.cpu, loaded from its .so, on cases small enough to work out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/plugin_host/experts.h"
#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

QTensor Matrix(const Shape& shape, const std::vector<float>& values) {
  return *QTensor::Unquantized(*Tensor::FromF32(shape, values));
}

class CpuExpertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        registry_.LoadLibrary(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/sy_experts_cpu.so").ok());
    experts_.emplace(*Experts::From(*Component::Create(*registry_.Find("experts.cpu"), {})));
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    // H = 2, I = 1, two experts. Expert 0: gate (1, 0), up (0, 1), down (1, 2)^T.
    // Expert 1: gate (0, 1), up (1, 1), down (-1, 0.5)^T.
    weights_.hidden = 2;
    weights_.intermediate = 1;
    weights_.gate_up = {Matrix({2, 2}, {1, 0, 0, 1}), Matrix({2, 2}, {0, 1, 1, 1})};
    weights_.down = {Matrix({2, 1}, {1, 2}), Matrix({2, 1}, {-1, 0.5f})};
  }
  RouterOutput Routing(const Shape& shape, const std::vector<float>& ids,
                       const std::vector<float>& w) {
    RouterOutput r;
    r.expert_ids = *Tensor::Empty(shape, DType::kI32);
    for (size_t i = 0; i < ids.size(); ++i)
      r.expert_ids.data<int32_t>()[i] = static_cast<int32_t>(ids[i]);
    r.expert_weights = *Tensor::FromF32(shape, w);
    return r;
  }
  ComponentRegistry registry_;
  std::optional<Experts> experts_;
  std::unique_ptr<ExecContext> ctx_;
  ExpertWeights weights_;
};

TEST_F(CpuExpertsTest, WeightedSumOfTwoExperts) {
  // x = (2, 3). Expert 0: a = silu(2) * 3, y = a * (1, 2). Expert 1: a = silu(3) * 5, y = a * (-1,
  // 0.5).
  Tensor x = *Tensor::FromF32({1, 2}, {2, 3});
  Tensor out = *experts_->Forward(*ctx_, x, Routing({1, 2}, {0, 1}, {0.75f, 0.25f}), weights_);
  const float a0 = Silu(2) * 3, a1 = Silu(3) * 5;
  EXPECT_NEAR(out.Get(0), 0.75f * a0 - 0.25f * a1, 1e-5);
  EXPECT_NEAR(out.Get(1), 0.75f * 2 * a0 + 0.25f * 0.5f * a1, 1e-5);
}

TEST_F(CpuExpertsTest, ClampedSwigluWithBiasesAsGptOss) {
  // gpt-oss: gate' = min(gate, 7), up' = clamp(up, -7, 7), a = (up' + 1) * gate' * sigmoid(1.702
  // gate'); biases on gate_up (per expert [gate, up]) and down, then the router weight.
  weights_.activation = SY_ACTIVATION_CLAMPED_SWIGLU;
  weights_.gate_up_bias = *Tensor::FromF32({2, 2}, {0.5f, -1.0f, 6.0f, 2.0f});
  weights_.down_bias = *Tensor::FromF32({2, 2}, {0.25f, -0.25f, 1.0f, 1.0f});
  Tensor x = *Tensor::FromF32({1, 2}, {2, 3});
  Tensor out = *experts_->Forward(*ctx_, x, Routing({1, 2}, {0, 1}, {0.75f, 0.25f}), weights_);
  auto act = [](float gate, float up) {
    const float g = std::min(gate, 7.0f), u = std::clamp(up, -7.0f, 7.0f);
    return (u + 1) * g / (1 + std::exp(-1.702f * g));
  };
  // Expert 0: gate 2 + 0.5, up 3 - 1. Expert 1: gate 3 + 6 = 9 -> clamped to 7, up 5 + 2 = 7.
  const float a0 = act(2.5f, 2.0f), a1 = act(9.0f, 7.0f);
  EXPECT_NEAR(a1, 8 * 7 / (1 + std::exp(-1.702f * 7)), 1e-5);
  EXPECT_NEAR(out.Get(0), 0.75f * (a0 + 0.25f) + 0.25f * (-a1 + 1.0f), 1e-4);
  EXPECT_NEAR(out.Get(1), 0.75f * (2 * a0 - 0.25f) + 0.25f * (0.5f * a1 + 1.0f), 1e-4);
  EXPECT_TRUE(experts_->SupportsActivation(SY_ACTIVATION_CLAMPED_SWIGLU));
  weights_.down_bias = *Tensor::FromF32({1, 2}, {0, 0});
  EXPECT_THAT(
      experts_->Forward(*ctx_, x, Routing({1, 1}, {0}, {1.0f}), weights_).status().message(),
      HasSubstr("down bias must be contiguous f32 [2, 2]"));
}

TEST_F(CpuExpertsTest, DroppedSlotsAndUnusedExpertsContributeNothing) {
  Tensor x = *Tensor::FromF32({2, 2}, {2, 3, -1, 1});
  Tensor out = *experts_->Forward(*ctx_, x, Routing({2, 1}, {0, -1}, {1.0f, 0.0f}), weights_);
  EXPECT_NEAR(out.Get(0), Silu(2) * 3, 1e-5);
  EXPECT_EQ(out.Get(2), 0.0);
  EXPECT_EQ(out.Get(3), 0.0);
}

TEST_F(CpuExpertsTest, SharedExpertWithSigmoidGate) {
  weights_.shared_intermediate = 1;
  weights_.shared_gate_up = Matrix({2, 2}, {1, 1, 1, 0});  // gate x0 + x1, up x0
  weights_.shared_down = Matrix({2, 1}, {1, 1});
  weights_.shared_gate = *Tensor::FromF32({2}, {0.5f, -0.5f});
  Tensor x = *Tensor::FromF32({1, 2}, {2, 3});
  Tensor out = *experts_->Forward(*ctx_, x, Routing({1, 1}, {0}, {1.0f}), weights_);
  const float shared =
      Silu(5) * 2 / (1 + std::exp(0.5f));  // sigmoid(0.5*2 - 0.5*3) = sigmoid(-0.5)
  EXPECT_NEAR(out.Get(0), Silu(2) * 3 + shared, 1e-5);
  EXPECT_NEAR(out.Get(1), 2 * Silu(2) * 3 + shared, 1e-5);
}

TEST_F(CpuExpertsTest, QuantizedWeightsComputeOnTheirDequantizedValues) {
  // int8 per-channel copies of expert 0's matrices: values q, scales s with q * s exact.
  const sy_qlayout layout = {sizeof(sy_qlayout), SY_DTYPE_I8, 1, 2, 1, 0};
  QTensor gate_up = *QTensor::Allocate(layout, 2, 2);
  const int8_t q[4] = {4, 0, 0, 8};
  for (int i = 0; i < 4; ++i) gate_up.values.data<int8_t>()[i] = q[i];
  gate_up.scales.data<float>()[0] = 0.25f;
  gate_up.scales.data<float>()[1] = 0.125f;
  weights_.gate_up[0] = gate_up;
  Tensor x = *Tensor::FromF32({1, 2}, {2, 3});
  Tensor out = *experts_->Forward(*ctx_, x, Routing({1, 1}, {0}, {1.0f}), weights_);
  EXPECT_NEAR(out.Get(1), 2 * Silu(2) * 3, 1e-5);
}

TEST_F(CpuExpertsTest, ManyTokensMatchPerTokenEvaluation) {
  ExpertWeights w;
  w.hidden = 16;
  w.intermediate = 8;
  for (int e = 0; e < 4; ++e) {
    w.gate_up.push_back(*QTensor::Unquantized(*RandomNormal({16, 16}, 10 + e, 0, 0.3f)));
    w.down.push_back(*QTensor::Unquantized(*RandomNormal({16, 8}, 20 + e, 0, 0.3f)));
  }
  Tensor x = *RandomNormal({9, 16}, 3);
  std::vector<float> ids, rw;
  for (int t = 0; t < 9; ++t) {
    ids.insert(ids.end(), {static_cast<float>(t % 4), static_cast<float>((t + 1) % 4)});
    rw.insert(rw.end(), {0.6f, 0.4f});
  }
  Tensor batched = *experts_->Forward(*ctx_, x, Routing({9, 2}, ids, rw), w);
  for (int t = 0; t < 9; ++t) {
    Tensor row = *x.SliceRows(t, t + 1);
    Tensor single = *experts_->Forward(
        *ctx_, *row.Clone(), Routing({1, 2}, {ids[2 * t], ids[2 * t + 1]}, {0.6f, 0.4f}), w);
    for (int c = 0; c < 16; ++c) EXPECT_NEAR(batched.Get(t * 16 + c), single.Get(c), 1e-5);
  }
}

TEST_F(CpuExpertsTest, BadInputsAreErrors) {
  Tensor x = *Tensor::FromF32({1, 2}, {2, 3});
  EXPECT_THAT(
      std::string(
          experts_->Forward(*ctx_, x, Routing({1, 1}, {5}, {1.0f}), weights_).status().message()),
      HasSubstr("expert id 5 of token 0 is outside [0, 2)"));
  Tensor wide = *Tensor::FromF32({1, 3}, {1, 2, 3});
  EXPECT_THAT(std::string(experts_->Forward(*ctx_, wide, Routing({1, 1}, {0}, {1.0f}), weights_)
                              .status()
                              .message()),
              HasSubstr("hidden must be contiguous f32 [tokens, 2]"));
  weights_.down[1] = Matrix({1, 2}, {1, 2});
  EXPECT_THAT(
      std::string(
          experts_->Forward(*ctx_, x, Routing({1, 1}, {0}, {1.0f}), weights_).status().message()),
      HasSubstr("expert 1 down must be [2, 1], got [1,2]"));
}

}  // namespace
}  // namespace sy
