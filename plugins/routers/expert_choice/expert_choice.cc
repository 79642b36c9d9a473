// router.expert_choice: Expert Choice routing (Zhou et al. 2022, "Mixture-of-Experts with
// Expert Choice Routing"). Experts choose tokens instead of tokens choosing experts:
//   p = softmax(logits) over experts, per token, in f32
//   C = ceil(capacityFactor * tokens * k / experts), at most tokens
//   expert e takes the C tokens with the largest p[., e] (ties: lower token index)
// A token's slots then list the experts that took it, by descending p (ties: lower expert id),
// weighted by p (not renormalised). A token taken by more than k experts keeps its k best; one
// taken by fewer leaves the rest of its slots dropped (-1, weight 0).
//
// The rule works on the whole batch, so a token's routing depends on the other tokens in it.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "expert_choice.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"

namespace sy::plugins {
namespace {

// A non-negative decimal as num / den.
struct Decimal {
  uint64_t num = 0;
  uint64_t den = 1;
};

// The shortest decimal that reads back as `x` ("1.1" for the f32 nearest 1.1). The capacity
// is rounded up from it, not from x's binary value: 1.1f is 1.10000002, and ceil(1.10000002 *
// 10) would give 12 tokens where the user asked for 11. The schema bounds x to [0.001, 1024],
// so the digits fit in 64 bits.
Decimal ShortestDecimal(float x) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof text, x, std::chars_format::fixed);
  Decimal d;
  bool fraction = false;
  for (const char* p = text; p != result.ptr; ++p) {
    if (*p == '.') {
      fraction = true;
      continue;
    }
    d.num = d.num * 10 + static_cast<uint64_t>(*p - '0');
    if (fraction) d.den *= 10;
  }
  return d;
}

class ExpertChoice : public Router {
 public:
  using Config = ExpertChoiceConfig;

  explicit ExpertChoice(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())),
        capacity_factor_(CheckCapacityFactor(config.getCapacityFactor())) {}

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    const RouterCall call = CheckRouterCall(args, k_);
    const std::vector<float> probs = Softmax(call);
    auto taken_by =
        ChooseTokens(probs, call.tokens, call.experts, Capacity(call.tokens, call.experts));
    for (int64_t t = 0; t < call.tokens; ++t) {
      WriteToken(taken_by[t], call.ids + t * k_, call.weights + t * k_);
    }
  }

 private:
  // The host enforces the schema's range; a direct caller may not, and ShortestDecimal needs it.
  static Decimal CheckCapacityFactor(float factor) {
    if (!(factor >= 0.001f && factor <= 1024.0f)) {
      throw std::invalid_argument("capacityFactor = " + std::to_string(factor) +
                                  " is outside [0.001, 1024]");
    }
    return ShortestDecimal(factor);
  }

  // Tokens per expert. Exact: the product is taken in integers from the decimal factor.
  int64_t Capacity(int64_t tokens, int64_t experts) const {
    using u128 = unsigned __int128;  // num * tokens * k can pass 2^64
    const u128 numerator =
        u128{capacity_factor_.num} * static_cast<uint64_t>(tokens) * static_cast<uint64_t>(k_);
    const u128 denominator = u128{capacity_factor_.den} * static_cast<uint64_t>(experts);
    const u128 capacity = (numerator + denominator - 1) / denominator;
    return capacity < static_cast<u128>(tokens) ? static_cast<int64_t>(capacity) : tokens;
  }

  // Row-wise softmax of the logits, [tokens, experts] in f32.
  static std::vector<float> Softmax(const RouterCall& call) {
    const int64_t tokens = call.tokens, experts = call.experts;
    std::vector<float> p(tokens * experts);
    for (int64_t t = 0; t < tokens; ++t) {
      float* row = p.data() + t * experts;
      call.LoadRow(t, row);
      const float max = *std::max_element(row, row + experts);
      float sum = 0.0f;
      for (int64_t e = 0; e < experts; ++e) sum += (row[e] = std::exp(row[e] - max));
      for (int64_t e = 0; e < experts; ++e) row[e] /= sum;
    }
    return p;
  }

  // For each token, the (score, expert) pairs of the experts whose top-`capacity` took it.
  static std::vector<std::vector<std::pair<float, int32_t>>> ChooseTokens(
      const std::vector<float>& probs, int64_t tokens, int64_t experts, int64_t capacity) {
    std::vector<std::vector<std::pair<float, int32_t>>> taken_by(tokens);
    std::vector<int64_t> order(tokens);
    for (int64_t e = 0; e < experts; ++e) {
      auto score = [&](int64_t t) { return probs[t * experts + e]; };
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + capacity, order.end(),
                        [&](int64_t a, int64_t b) {
                          return score(a) > score(b) || (score(a) == score(b) && a < b);
                        });
      for (int64_t i = 0; i < capacity; ++i) {
        taken_by[order[i]].emplace_back(score(order[i]), static_cast<int32_t>(e));
      }
    }
    return taken_by;
  }

  // The token's k best experts by score (ties: lower id); unused slots are dropped.
  void WriteToken(std::vector<std::pair<float, int32_t>>& picks, int32_t* ids,
                  float* weights) const {
    const int64_t kept = std::min<int64_t>(k_, static_cast<int64_t>(picks.size()));
    std::partial_sort(picks.begin(), picks.begin() + kept, picks.end(),
                      [](const auto& a, const auto& b) {
                        return a.first > b.first || (a.first == b.first && a.second < b.second);
                      });
    for (int32_t j = 0; j < k_; ++j) {
      ids[j] = j < kept ? picks[j].second : -1;
      weights[j] = j < kept ? picks[j].first : 0.0f;
    }
  }

  int32_t k_;
  Decimal capacity_factor_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.expert_choice", "0.1.0",
                 sy::RouterComponent<sy::plugins::ExpertChoice>(
                     "expert_choice",
                     "Expert Choice: each expert takes its top-C tokens by softmax score"))
