// The router conformance suite: every router found on the plugin search path, in-tree or a
// vendor's (SWITCHYARD_PLUGIN_PATH=DIR router_conformance_test), must satisfy the router
// contract. Routers with a published routing rule are also compared with an independent
// double-precision reference written out below.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "core/plugin_host/component.h"
#include "core/plugin_host/router.h"
#include "core/tensor/tensor_random.h"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

// Reference routing rules, in double precision, independent of the plugins' code.
// Returns (ids, weights) for one token's logits.
using Reference = std::function<std::pair<std::vector<int>, std::vector<double>>(
    const std::vector<double>&, int k)>;

std::pair<std::vector<int>, std::vector<double>> SoftmaxTopKReference(
    const std::vector<double>& logits, int k) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t e = 0; e < p.size(); ++e) sum += (p[e] = std::exp(logits[e] - max));
  for (double& x : p) x /= sum;
  std::vector<int> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  order.resize(k);
  double top = 0;
  for (int e : order) top += p[e];
  std::vector<double> w;
  for (int e : order) w.push_back(p[e] / top);  // default config: renormalize = true
  return {order, w};
}

// DeepSeek-V3 as transformers routes it, without a correction bias: s = sigmoid(logits); the
// topk_group groups with the largest sum of their top two s survive, the others' experts score
// 0; top-k by score; weights s / (sum + 1e-20) x scale.
std::pair<std::vector<int>, std::vector<double>> GroupedTopKReference(
    const std::vector<double>& logits, int k, int n_group, int topk_group, double scale) {
  const int experts = static_cast<int>(logits.size()), size = experts / n_group;
  std::vector<double> s;
  for (double x : logits) s.push_back(1 / (1 + std::exp(-x)));
  std::vector<double> group_score(n_group);
  for (int g = 0; g < n_group; ++g) {
    std::vector<double> members(s.begin() + g * size, s.begin() + (g + 1) * size);
    std::sort(members.rbegin(), members.rend());
    group_score[g] = members[0] + (size > 1 ? members[1] : 0.0);
  }
  std::vector<int> groups(n_group);
  std::iota(groups.begin(), groups.end(), 0);
  std::stable_sort(groups.begin(), groups.end(),
                   [&](int a, int b) { return group_score[a] > group_score[b]; });
  std::vector<double> choice(experts, 0.0);
  for (int i = 0; i < topk_group; ++i) {
    for (int e = groups[i] * size; e < (groups[i] + 1) * size; ++e) choice[e] = s[e];
  }
  std::vector<int> order(experts);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return choice[a] > choice[b]; });
  order.resize(k);
  double top = 0;
  for (int e : order) top += s[e];
  std::vector<double> w;
  for (int e : order) w.push_back(s[e] / (top + 1e-20) * scale);
  return {order, w};
}

const std::map<std::string, Reference>& References() {
  static const std::map<std::string, Reference> references = {
      {"router.softmax_topk", SoftmaxTopKReference},
      // Default config: one group, so no group is dropped; renormalised, unscaled.
      {"router.grouped_topk", [](const std::vector<double>& logits, int k) {
         return GroupedTopKReference(logits, k, /*n_group=*/1, /*topk_group=*/1, /*scale=*/1.0);
       }}};
  return references;
}

// A batch as a serving step hands it over: logits and the tokens' ids. Routers that hash
// token ids (router.hash) need them; the others must accept and may ignore them.
RouterInputs Batch(Tensor logits) {
  const int64_t tokens = logits.dim(0);
  Tensor token_ids = *Tensor::Empty({tokens}, DType::kI32);
  for (int64_t t = 0; t < tokens; ++t) {
    token_ids.data<int32_t>()[t] = static_cast<int32_t>((t * 7919 + 13) % 32000);
  }
  return {std::move(logits), std::move(token_ids)};
}

// Routers that cannot run from a default config alone; each is tested beside its code.
const std::set<std::string>& NeedsSetup() {
  static const std::set<std::string> names = {
      "router.replay",  // plays back a recorded trace: plugins/routers/replay/replay_test.cc
  };
  return names;
}

class RouterConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (NeedsSetup().count(GetParam()))
      GTEST_SKIP() << GetParam() << " needs a trace file; see its own test";
    auto component = Component::Create(*DiscoveredPlugins().Find(GetParam()), {});
    ASSERT_TRUE(component.ok()) << "a router must be creatable from its default config: "
                                << component.status();
    auto router = Router::From(*component);
    ASSERT_TRUE(router.ok());
    router_.emplace(*router);
    ctx_ = *ExecContext::Create(Device::Cpu(), 2);
  }
  int Experts() const { return std::max(8, router_->top_k()); }
  std::optional<Router> router_;
  std::unique_ptr<ExecContext> ctx_;
};

TEST_P(RouterConformanceTest, OutputsAreWellFormed) {
  const int k = router_->top_k();
  ASSERT_GE(k, 1);
  for (int tokens : {1, 7, 64}) {
    Tensor logits = *RandomNormal({tokens, Experts()}, 100 + tokens, 0.0f, 2.0f);
    auto out = router_->Route(*ctx_, Batch(logits));
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->expert_ids.shape(), (Shape{tokens, k}));
    ASSERT_EQ(out->expert_weights.shape(), (Shape{tokens, k}));
    for (int t = 0; t < tokens; ++t) {
      std::set<int> seen;
      for (int j = 0; j < k; ++j) {
        const int id = out->expert_ids.data<int32_t>()[t * k + j];
        const float w = out->expert_weights.data<float>()[t * k + j];
        EXPECT_GE(w, 0.0f) << "token " << t;
        if (id >= 0) {
          EXPECT_TRUE(seen.insert(id).second) << "token " << t << " routed twice to expert " << id;
        }
      }
    }
  }
}

TEST_P(RouterConformanceTest, IsDeterministic) {
  Tensor logits = *RandomNormal({33, Experts()}, 5);
  auto a = router_->Route(*ctx_, Batch(logits));
  auto b = router_->Route(*ctx_, Batch(logits));
  ASSERT_TRUE(a.ok() && b.ok());
  for (int64_t i = 0; i < a->expert_ids.numel(); ++i) {
    EXPECT_EQ(a->expert_ids.data<int32_t>()[i], b->expert_ids.data<int32_t>()[i]);
    EXPECT_EQ(a->expert_weights.data<float>()[i], b->expert_weights.data<float>()[i]);
  }
}

TEST_P(RouterConformanceTest, RefusesNonFiniteLogits) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    Tensor logits = *RandomNormal({4, Experts()}, 9);
    logits.data<float>()[5] = bad;
    EXPECT_FALSE(router_->Route(*ctx_, Batch(logits)).ok()) << "logit " << bad << " was accepted";
  }
}

TEST_P(RouterConformanceTest, HandlesAnEmptyBatch) {
  Tensor logits = *Tensor::Empty({0, Experts()}, DType::kF32);
  auto out = router_->Route(*ctx_, Batch(logits));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->expert_ids.numel(), 0);
}

TEST_P(RouterConformanceTest, MatchesTheReferenceRule) {
  auto it = References().find(GetParam());
  if (it == References().end()) GTEST_SKIP() << "no published routing rule for " << GetParam();
  const int k = router_->top_k(), experts = Experts(), tokens = 50;
  Tensor logits = *RandomNormal({tokens, experts}, 77, 0.0f, 3.0f);
  auto out = router_->Route(*ctx_, Batch(logits));
  ASSERT_TRUE(out.ok()) << out.status();
  for (int t = 0; t < tokens; ++t) {
    std::vector<double> row(experts);
    for (int e = 0; e < experts; ++e) row[e] = logits.Get(t * experts + e);
    const auto [ids, weights] = it->second(row, k);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(out->expert_ids.data<int32_t>()[t * k + j], ids[j])
          << "token " << t << " slot " << j;
      EXPECT_NEAR(out->expert_weights.data<float>()[t * k + j], weights[j], 1e-6) << "token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllRouters, RouterConformanceTest,
                         ::testing::ValuesIn(ComponentNames(SY_KIND_ROUTER)),
                         [](const auto& info) { return ComponentTestName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RouterConformanceTest);

}  // namespace
}  // namespace sy
