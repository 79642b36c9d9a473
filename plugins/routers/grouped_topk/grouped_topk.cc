// router.grouped_topk: the group-limited routing of DeepSeek-V3 (and, with scoring = softmax,
// DeepSeek-V2), following transformers' DeepseekV3 router:
//   s  = sigmoid(logits) in f32;  s' = s + correction_bias (selection only; NULL = zeros)
//   group score = sum of the top-2 s' of each of nGroup groups; keep the topkGroup best groups
//   ids = top-k of s' over the kept experts (the others score maskedGroupFill)
//   weights = s at ids (unbiased), / (sum + 1e-20) if renormalize, x routedScalingFactor
// With scoring = softmax: s = softmax(logits), no bias, and a group scores its maximum.
// Ties go to the lower group or expert id; slots come in descending order of s'.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "grouped_topk.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"

namespace sy::plugins {
namespace {

using Scoring = GroupedTopKConfig::Scoring;
using MaskedGroupFill = GroupedTopKConfig::MaskedGroupFill;

void Sigmoid(std::vector<float>& row) {
  for (float& x : row) x = 1.0f / (1.0f + std::exp(-x));
}

void Softmax(std::vector<float>& row) {
  float max = -INFINITY;
  for (float x : row) max = std::max(max, x);
  float sum = 0.0f;
  for (float& x : row) sum += (x = std::exp(x - max));
  for (float& x : row) x /= sum;
}

// The first `n` indices of `values` in descending order of value, ties to the lower index.
std::vector<int32_t> TopIndices(const std::vector<float>& values, int32_t n) {
  std::vector<int32_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  order.resize(n);
  return order;
}

// Sum of the two largest of [begin, end); a one-expert group scores its only expert (torch's
// topk(2) would refuse it, so this only extends the rule).
float SumOfTopTwo(const float* begin, const float* end) {
  float first = -INFINITY, second = -INFINITY;
  for (const float* p = begin; p != end; ++p) {
    if (*p > first) {
      second = first;
      first = *p;
    } else if (*p > second) {
      second = *p;
    }
  }
  return end - begin >= 2 ? first + second : first;
}

class GroupedTopK : public Router {
 public:
  using Config = GroupedTopKConfig;

  explicit GroupedTopK(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())),
        n_group_(static_cast<int32_t>(config.getNGroup())),
        topk_group_(static_cast<int32_t>(config.getTopkGroup())),
        scale_(config.getRoutedScalingFactor()),
        renormalize_(config.getRenormalize()),
        softmax_(ReadScoring(config.getScoring())),
        masked_fill_(ReadFill(config.getMaskedGroupFill())) {
    // A pure config contradiction: refuse it at create() rather than on the first batch.
    if (topk_group_ > n_group_) {
      throw std::invalid_argument("topkGroup = " + std::to_string(topk_group_) +
                                  " exceeds nGroup = " + std::to_string(n_group_));
    }
  }

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    const RouterCall call = CheckRouterCall(args, k_);
    const int64_t experts = call.experts;
    CheckExpertCount(experts);
    const float* bias = CheckBias(args.correction_bias, experts);

    std::vector<float> scores(experts), choice(experts);
    for (int64_t t = 0; t < call.tokens; ++t) {
      call.LoadRow(t, scores.data());
      if (softmax_) {
        Softmax(scores);
      } else {
        Sigmoid(scores);
      }
      for (int64_t e = 0; e < experts; ++e) choice[e] = scores[e] + (bias ? bias[e] : 0.0f);
      MaskGroups(choice, scores);
      WriteToken(TopIndices(choice, k_), scores, call.ids + t * k_, call.weights + t * k_);
    }
  }

 private:
  static bool ReadScoring(Scoring scoring) {
    switch (scoring) {
      case Scoring::SIGMOID:
        return false;
      case Scoring::SOFTMAX:
        return true;
      default:  // a newer host's enumerant this build does not know
        throw std::invalid_argument("scoring: unknown value " +
                                    std::to_string(static_cast<int>(scoring)));
    }
  }

  static float ReadFill(MaskedGroupFill fill) {
    switch (fill) {
      case MaskedGroupFill::ZERO:
        return 0.0f;
      case MaskedGroupFill::NEG_INF:
        return -INFINITY;
      default:
        throw std::invalid_argument("maskedGroupFill: unknown value " +
                                    std::to_string(static_cast<int>(fill)));
    }
  }

  // Checks that depend on the expert count, which only a batch reveals.
  void CheckExpertCount(int64_t experts) const {
    const std::string n = std::to_string(experts);
    if (experts % n_group_ != 0) {
      throw std::invalid_argument(
          n + " experts do not split into nGroup = " + std::to_string(n_group_) + " equal groups");
    }
    const int64_t kept = topk_group_ * (experts / n_group_);
    if (k_ > kept) {
      throw std::invalid_argument(
          "k = " + std::to_string(k_) + " exceeds the " + std::to_string(kept) +
          " experts of the topkGroup = " + std::to_string(topk_group_) + " kept groups (" + n +
          " experts in nGroup = " + std::to_string(n_group_) + " groups)");
    }
  }

  // The bias as a pointer to `experts` floats, or null when there is none.
  const float* CheckBias(const sy_tensor* tensor, int64_t experts) const {
    if (tensor == nullptr) return nullptr;
    if (softmax_) {
      // DeepSeek-V2 has no correction bias: refuse one rather than silently ignore it.
      throw std::invalid_argument("correction_bias is given, but scoring = softmax takes none");
    }
    const TensorView bias(*tensor);
    bias.RequireCpuContiguous("correction_bias", 1, DType::kF32);
    if (bias.dim(0) != experts) {
      throw std::invalid_argument("correction_bias: expected f32[" + std::to_string(experts) +
                                  "] (one per expert), got " + bias.Describe());
    }
    bias.RequireFinite("correction_bias");
    return bias.data<const float>();
  }

  // Keeps the topk_group best groups of `choice`; the other experts get masked_fill_.
  void MaskGroups(std::vector<float>& choice, const std::vector<float>& scores) const {
    if (n_group_ == topk_group_) return;  // every group is kept
    const int64_t size = static_cast<int64_t>(choice.size()) / n_group_;
    std::vector<float> group_scores(n_group_);
    for (int32_t g = 0; g < n_group_; ++g) {
      const float* begin = (softmax_ ? scores.data() : choice.data()) + g * size;
      group_scores[g] =
          softmax_ ? *std::max_element(begin, begin + size) : SumOfTopTwo(begin, begin + size);
    }
    std::vector<bool> kept(n_group_, false);
    for (int32_t g : TopIndices(group_scores, topk_group_)) kept[g] = true;
    for (int32_t g = 0; g < n_group_; ++g) {
      if (!kept[g]) std::fill_n(choice.begin() + g * size, size, masked_fill_);
    }
  }

  // Weights come from the unbiased scores, whatever chose the experts.
  void WriteToken(const std::vector<int32_t>& chosen, const std::vector<float>& scores,
                  int32_t* ids, float* weights) const {
    float sum = 0.0f;
    for (int32_t e : chosen) sum += scores[e];
    // transformers adds 1e-20 so that an all-zero selection does not divide by zero.
    const float denominator = renormalize_ ? sum + 1e-20f : 1.0f;
    for (int32_t j = 0; j < k_; ++j) {
      ids[j] = chosen[j];
      weights[j] = scores[chosen[j]] / denominator * scale_;
    }
  }

  int32_t k_;
  int32_t n_group_;
  int32_t topk_group_;
  float scale_;
  bool renormalize_;
  bool softmax_;
  float masked_fill_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.grouped_topk", "0.1.0",
                 sy::RouterComponent<sy::plugins::GroupedTopK>(
                     "grouped_topk",
                     "DeepSeek-V3/V2 group-limited top-k: sigmoid/softmax scores, correction bias "
                     "for selection, routed scaling"))
