// router.softmax_topk: p = softmax(logits) in f32; keep the k largest (ties: lower expert id
// first), in descending order; optionally renormalise them to sum to 1. This is the routing
// of Mixtral (renormalize = true) and of Qwen2/3-MoE and OLMoE (renormalize = norm_topk_prob).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "softmax_topk.capnp.h"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

class SoftmaxTopK : public Router {
 public:
  using Config = SoftmaxTopKConfig;

  explicit SoftmaxTopK(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())), renormalize_(config.getRenormalize()) {}

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    const TensorView logits(*args.logits);
    if (!logits.on_cpu() || logits.ndim() != 2 || !logits.is_contiguous() ||
        (logits.dtype() != DType::kF32 && logits.dtype() != DType::kBF16)) {
      throw std::invalid_argument(
          "logits: expected contiguous CPU f32 or bf16 [tokens, experts], got " +
          logits.Describe());
    }
    logits.RequireFinite("logits");
    const int64_t tokens = logits.dim(0);
    const int64_t experts = logits.dim(1);
    if (k_ > experts) {
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " +
                                  std::to_string(experts) + " experts");
    }
    TensorView(*args.expert_ids).RequireCpuContiguous("expert_ids", 2, DType::kI32);
    TensorView(*args.expert_weights).RequireCpuContiguous("expert_weights", 2, DType::kF32);
    auto* ids = static_cast<int32_t*>(args.expert_ids->data);
    auto* weights = static_cast<float*>(args.expert_weights->data);

    std::vector<float> probs(experts);
    std::vector<int32_t> order(experts);
    for (int64_t t = 0; t < tokens; ++t) {
      LoadRow(logits, t, probs);
      Softmax(probs);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k_, order.end(), [&](int32_t a, int32_t b) {
        return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
      });
      float sum = 0.0f;
      for (int32_t j = 0; j < k_; ++j) sum += probs[order[j]];
      for (int32_t j = 0; j < k_; ++j) {
        ids[t * k_ + j] = order[j];
        weights[t * k_ + j] = renormalize_ ? probs[order[j]] / sum : probs[order[j]];
      }
    }
  }

 private:
  static void LoadRow(const TensorView& logits, int64_t token, std::vector<float>& row) {
    const int64_t experts = logits.dim(1);
    if (logits.dtype() == DType::kF32) {
      const float* src = logits.data<float>() + token * experts;
      std::copy(src, src + experts, row.begin());
    } else {
      const uint16_t* src = logits.data<uint16_t>() + token * experts;
      for (int64_t e = 0; e < experts; ++e) row[e] = BF16ToF32(src[e]);
    }
  }

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
