// The MoE layer built from real plugins (router.softmax_topk, experts.cpu), checked against a
// plain re-computation of the same layer.
#include "core/moe/moe_layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class MoeLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
    weights_ = *MoeWeights::Random({.experts = 4, .hidden = 16, .intermediate = 8}, 1);
  }
  RoutingFunction SoftmaxTopK(int k) {
    auto c = Component::Create(*registry_.Find("router.softmax_topk"),
                               {ConfigTable{{"k", {int64_t{k}}}}});
    return RoutingFunction::FromRouter(*Router::From(*c));
  }
  Experts Cpu() { return *Experts::From(*Component::Create(*registry_.Find("experts.cpu"), {})); }

  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  MoeWeights weights_;
};

// The layer, written out plainly in double precision.
std::vector<double> Reference(const MoeWeights& w, const Tensor& x, int k) {
  const int64_t tokens = x.dim(0), h = w.router.dim(1), inter = w.down[0].dim(1);
  const int experts = static_cast<int>(w.gate_up.size());
  std::vector<double> out(tokens * h, 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> p(experts);
    double max = -1e300, sum = 0;
    for (int e = 0; e < experts; ++e) {
      for (int64_t c = 0; c < h; ++c) p[e] += x.Get(t * h + c) * w.router.Get(e * h + c);
      max = std::max(max, p[e]);
    }
    for (double& v : p) sum += (v = std::exp(v - max));
    std::vector<int> order(experts);
    for (int e = 0; e < experts; ++e) order[e] = e;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    double top = 0;
    for (int j = 0; j < k; ++j) top += p[order[j]];
    for (int j = 0; j < k; ++j) {
      const int e = order[j];
      std::vector<double> a(inter);
      for (int64_t i = 0; i < inter; ++i) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < h; ++c) {
          g += w.gate_up[e].Get(i * h + c) * x.Get(t * h + c);
          u += w.gate_up[e].Get((inter + i) * h + c) * x.Get(t * h + c);
        }
        a[i] = g / (1 + std::exp(-g)) * u;
      }
      for (int64_t c = 0; c < h; ++c) {
        double y = 0;
        for (int64_t i = 0; i < inter; ++i) y += w.down[e].Get(c * inter + i) * a[i];
        out[t * h + c] += p[e] / top * y;
      }
    }
  }
  return out;
}

TEST_F(MoeLayerTest, MatchesThePlainComputation) {
  auto layer = MoeLayer::Create(SoftmaxTopK(2), std::nullopt, Cpu(), weights_, {}, *ctx_);
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor x = *RandomNormal({12, 16}, 5);
  Tensor y = *(*layer)->Forward(*ctx_, x);
  const std::vector<double> expected = Reference(weights_, x, 2);
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.Get(i), expected[i], 1e-4) << i;
  const ExpertLoad& load = (*layer)->last_load();
  int64_t total = 0;
  for (int64_t c : load.tokens_per_expert) total += c;
  EXPECT_EQ(total, 24);
}

TEST_F(MoeLayerTest, CapacityDropsAreCountedInTheLoad) {
  MoeLayerOptions options;
  options.capacity = CapacityLimit{0.5, CapacityLimit::Overflow::kDrop};
  auto layer = MoeLayer::Create(SoftmaxTopK(2), std::nullopt, Cpu(), weights_, options, *ctx_);
  ASSERT_TRUE(layer.ok());
  ASSERT_TRUE((*layer)->Forward(*ctx_, *RandomNormal({16, 16}, 6)).ok());
  const ExpertLoad& load = (*layer)->last_load();
  for (int64_t c : load.tokens_per_expert) EXPECT_LE(c, 4);  // ceil(0.5 * 32 / 4)
  EXPECT_GE(load.dropped, 32 - 16);
}

TEST_F(MoeLayerTest, RefusesMismatchedWeightsAndInputs) {
  MoeWeights broken = weights_;
  broken.down[2] = *RandomNormal({16, 7}, 1);
  EXPECT_THAT(std::string(MoeLayer::Create(SoftmaxTopK(2), std::nullopt, Cpu(), broken, {}, *ctx_)
                              .status()
                              .message()),
              HasSubstr("MoE weight experts.2.down must be contiguous f32 [16,8], got f32[16,7]"));
  EXPECT_THAT(std::string(MoeLayer::Create(SoftmaxTopK(5), std::nullopt, Cpu(), weights_, {}, *ctx_)
                              .status()
                              .message()),
              HasSubstr("k = 5 must be between 1 and the layer's 4 experts"));
  auto layer = MoeLayer::Create(SoftmaxTopK(2), std::nullopt, Cpu(), weights_, {}, *ctx_);
  EXPECT_THAT(std::string((*layer)->Forward(*ctx_, *RandomNormal({2, 15}, 1)).status().message()),
              HasSubstr("hidden must be f32 [tokens, 16]"));
}

TEST_F(MoeLayerTest, ReportsLoadAsTelemetry) {
  MoeLayerOptions options;
  options.layer = 3;
  auto layer = MoeLayer::Create(SoftmaxTopK(1), std::nullopt, Cpu(), weights_, options, *ctx_);
  ASSERT_TRUE((*layer)->Forward(*ctx_, *RandomNormal({10, 16}, 7)).ok());
  capnp::MallocMessageBuilder message;
  auto report = message.initRoot<schema::LayerLoad>();
  (*layer)->WriteLastLoad(report);
  EXPECT_EQ(report.getLayer(), 3u);
  EXPECT_EQ(report.getTokens(), 10u);
  EXPECT_EQ(report.getTokensPerExpert().size(), 4u);
  uint32_t total = 0;
  for (uint32_t c : report.getTokensPerExpert()) total += c;
  EXPECT_EQ(total, 10u);
  EXPECT_GE(report.getMaxOverMean(), 1.0);
}

}  // namespace
}  // namespace sy
