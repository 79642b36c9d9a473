// router.hash: hash-layer routing (Roller et al. 2021, "Hash Layers For Large Sparse Models"):
// a token's experts depend only on its id, never on the logits, so the assignment is fixed,
// balanced over the vocabulary and needs no training. For token id x:
//   key = splitmix64(splitmix64(seed) ^ uint32(x))
//   candidate i = splitmix64(key + i) mod experts, i = 0, 1, ...; repeats are skipped
// and the first k distinct candidates, in draw order, are its experts, each weighted 1/k.
// The logits are still checked (shape, finiteness) so that a bad batch fails here as it would
// with any other router.
#include <cstdint>
#include <string>
#include <vector>

#include "hash.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"

namespace sy::plugins {
namespace {

// SplitMix64 (Steele, Lea and Flood 2014): the output of the generator whose state is x.
// A bijection of 64-bit words with good avalanche; SplitMix64(0) = 0xe220a8397b1dcdaf.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class HashRouter : public Router {
 public:
  using Config = HashConfig;

  explicit HashRouter(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())), seed_key_(SplitMix64(config.getSeed())) {}

  int32_t top_k() const override { return k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    // Refuses k > experts: k distinct experts could not exist, and Draw would never end.
    const RouterCall call = CheckRouterCall(args, k_);
    const int32_t* token_ids = CheckTokenIds(args.token_ids, call.tokens);
    std::vector<bool> taken(call.experts, false);
    for (int64_t t = 0; t < call.tokens; ++t) {
      Draw(token_ids[t], taken, call.ids + t * k_);
      for (int32_t j = 0; j < k_; ++j) call.weights[t * k_ + j] = 1.0f / static_cast<float>(k_);
    }
  }

 private:
  static const int32_t* CheckTokenIds(const sy_tensor* tensor, int64_t tokens) {
    if (tensor == nullptr) {
      throw std::invalid_argument("router.hash needs token_ids: it routes by token id");
    }
    const TensorView token_ids(*tensor);
    token_ids.RequireCpuContiguous("token_ids", 1, DType::kI32);
    if (token_ids.dim(0) != tokens) {
      throw std::invalid_argument("token_ids: expected i32[" + std::to_string(tokens) +
                                  "] (one per token), got " + token_ids.Describe());
    }
    return token_ids.data<const int32_t>();
  }

  // Writes the k distinct experts of `token_id`. A per-token key, rather than consecutive
  // counters shared across tokens (token_id * k + j), keeps the extra draws that skip repeats
  // from running into the next token id's sequence. `taken` is all false on entry and exit.
  void Draw(int32_t token_id, std::vector<bool>& taken, int32_t* ids) const {
    const uint64_t experts = taken.size();
    const uint64_t key = SplitMix64(seed_key_ ^ static_cast<uint32_t>(token_id));
    // Ends (k <= experts): over all i, SplitMix64(key + i) takes every 64-bit value, so every
    // expert turns up; on average after experts * ln(experts / (experts - k + 1)) + 1 draws.
    for (uint64_t i = 0, found = 0; found < static_cast<uint64_t>(k_); ++i) {
      const uint64_t expert = SplitMix64(key + i) % experts;
      if (taken[expert]) continue;
      taken[expert] = true;
      ids[found++] = static_cast<int32_t>(expert);
    }
    for (int32_t j = 0; j < k_; ++j) taken[ids[j]] = false;
  }

  int32_t k_;
  uint64_t seed_key_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.hash", "0.1.0",
                 sy::RouterComponent<sy::plugins::HashRouter>(
                     "hash", "k distinct experts per token by hashing its token id, weights 1/k"))
