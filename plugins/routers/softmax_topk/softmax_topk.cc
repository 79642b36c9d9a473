// router.softmax_topk: p = softmax(logits) in f32; keep the k largest (ties: lower expert id
// first), in descending order; optionally renormalise them to sum to 1. This is the routing
// of Mixtral (renormalize = true) and of Qwen2/3-MoE and OLMoE (renormalize = norm_topk_prob).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "softmax_topk.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"

namespace sy::plugins {
namespace {

class SoftmaxTopK : public Router {
 public:
  using Config = SoftmaxTopKConfig;

  explicit SoftmaxTopK(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())), renormalize_(config.getRenormalize()) {}

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    const RouterCall call = CheckRouterCall(args, k_);
    std::vector<float> probs(call.experts);
    std::vector<int32_t> order(call.experts);
    for (int64_t t = 0; t < call.tokens; ++t) {
      call.LoadRow(t, probs.data());
      Softmax(probs);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k_, order.end(), [&](int32_t a, int32_t b) {
        return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
      });
      float sum = 0.0f;
      for (int32_t j = 0; j < k_; ++j) sum += probs[order[j]];
      for (int32_t j = 0; j < k_; ++j) {
        call.ids[t * k_ + j] = order[j];
        call.weights[t * k_ + j] = renormalize_ ? probs[order[j]] / sum : probs[order[j]];
      }
    }
  }

 private:
  static void Softmax(std::vector<float>& row) {
    float max = -INFINITY;
    for (float x : row) max = std::max(max, x);
    float sum = 0.0f;
    for (float& x : row) sum += (x = std::exp(x - max));
    for (float& x : row) x /= sum;
  }

  int32_t k_;
  bool renormalize_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.softmax_topk", "0.1.0",
                 sy::RouterComponent<sy::plugins::SoftmaxTopK>(
                     "softmax_topk", "softmax over experts, top-k, optional renormalisation"))
