// router.uniform_random: synthetic load. Each token gets k distinct experts drawn uniformly
// at random; the logits only seed the draw (and, with weights = softmax, weight the result).
//
// The draw is a pure function of (seed, token index in the batch, the token's logits row), not
// of a call counter: routing the same batch twice gives the same experts, which the router
// conformance suite requires and which makes A/B runs and replays reproducible. Rows that
// differ, or the same row at another position, draw independently. For token t with logits x:
//   key = splitmix64(splitmix64(splitmix64(seed) ^ t) ^ row_hash(x))
//   row_hash(x) = h_E, h_0 = 0, h_{e+1} = splitmix64(h_e ^ f32_bits(x_e))  (-0 hashed as +0)
//   candidate i = splitmix64(key + i) mod experts, repeats skipped, first k kept in draw order.
// bf16 logits are widened to f32 first, so they draw as the same values in f32 would.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"
#include "uniform_random.capnp.h"

namespace sy::plugins {
namespace {

using WeightMode = UniformRandomConfig::Weights;

// SplitMix64 (Steele, Lea and Flood 2014): the output of the generator whose state is x.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t RowHash(const std::vector<float>& row) {
  uint64_t h = 0;
  for (float x : row) h = SplitMix64(h ^ std::bit_cast<uint32_t>(x == 0.0f ? 0.0f : x));
  return h;
}

class UniformRandom : public Router {
 public:
  using Config = UniformRandomConfig;

  explicit UniformRandom(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())),
        seed_key_(SplitMix64(config.getSeed())),
        softmax_(ReadWeights(config.getWeights())) {}

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    // Refuses k > experts: k distinct experts could not exist, and Draw would never end.
    const RouterCall call = CheckRouterCall(args, k_);
    std::vector<float> row(call.experts);
    std::vector<bool> taken(call.experts, false);
    for (int64_t t = 0; t < call.tokens; ++t) {
      call.LoadRow(t, row.data());
      const uint64_t key =
          SplitMix64(SplitMix64(seed_key_ ^ static_cast<uint64_t>(t)) ^ RowHash(row));
      Draw(key, taken, call.ids + t * k_);
      Weigh(row, call.ids + t * k_, call.weights + t * k_);
    }
  }

 private:
  static bool ReadWeights(WeightMode mode) {
    switch (mode) {
      case WeightMode::UNIFORM:
        return false;
      case WeightMode::SOFTMAX:
        return true;
      default:  // a newer host's enumerant this build does not know
        throw std::invalid_argument("weights: unknown value " +
                                    std::to_string(static_cast<int>(mode)));
    }
  }

  // Writes k distinct experts drawn from `key`. `taken` is all false on entry and exit.
  void Draw(uint64_t key, std::vector<bool>& taken, int32_t* ids) const {
    const uint64_t experts = taken.size();
    // Ends (k <= experts): over all i, SplitMix64(key + i) takes every 64-bit value. The
    // modulo bias is below experts / 2^64.
    for (uint64_t i = 0, found = 0; found < static_cast<uint64_t>(k_); ++i) {
      const uint64_t expert = SplitMix64(key + i) % experts;
      if (taken[expert]) continue;
      taken[expert] = true;
      ids[found++] = static_cast<int32_t>(expert);
    }
    for (int32_t j = 0; j < k_; ++j) taken[ids[j]] = false;
  }

  // Softmax over all experts, restricted to the chosen ones and renormalised, equals a
  // softmax over the chosen logits alone; computing that avoids underflow in the full one.
  void Weigh(const std::vector<float>& row, const int32_t* ids, float* weights) const {
    if (!softmax_) {
      std::fill_n(weights, k_, 1.0f / static_cast<float>(k_));
      return;
    }
    float max = -INFINITY;
    for (int32_t j = 0; j < k_; ++j) max = std::max(max, row[ids[j]]);
    float sum = 0.0f;
    for (int32_t j = 0; j < k_; ++j) sum += (weights[j] = std::exp(row[ids[j]] - max));
    for (int32_t j = 0; j < k_; ++j) weights[j] /= sum;
  }

  int32_t k_;
  uint64_t seed_key_;
  bool softmax_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.uniform_random", "0.1.0",
                 sy::RouterComponent<sy::plugins::UniformRandom>(
                     "uniform_random",
                     "synthetic load: k distinct experts per token uniformly at random, seeded"))
