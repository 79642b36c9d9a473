// router.round_robin: a router that ignores the logits' values and spreads tokens evenly.
// Token t goes to experts (t * k + j + offset) mod E for j = 0 .. k-1, each with weight 1/k,
// where E is the number of experts (the logits' second dimension). Over any E consecutive
// tokens every expert receives exactly k tokens, which makes it a handy baseline for load
// balance and a minimal, complete example of a Switchyard plugin.
//
// To start your own plugin: copy this folder, rename the files, the target, the plugin name
// in SY_EXPORT_PLUGIN and the component name, and give the schema a fresh `capnp id`.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "example_router.capnp.h"  // generated from example_router.capnp
#include "switchyard/plugin.hpp"
#include "switchyard/router_support.hpp"

namespace example {
namespace {

class RoundRobin : public sy::Router {
 public:
  // The Cap'n Proto struct the host validates the user's config against.
  using Config = RoundRobinConfig;

  // The host has already filled in defaults and checked $Sy.min/$Sy.max; an exception thrown
  // here becomes the error of create(). A component can also define
  //   static int32_t Score(const sy_host* host);   // 0: cannot run here; default 1
  explicit RoundRobin(Config::Reader config)
      : k_(static_cast<int32_t>(config.getK())), offset_(config.getOffset()) {}

  // The number of slots per token this router writes.
  int32_t top_k() const override { return k_; }

  // Inputs: logits [tokens, experts] (only the shape is used). Outputs, allocated by the host:
  // expert_ids [tokens, k] i32 and expert_weights [tokens, k] f32, on the CPU.
  void Route(const sy::ExecContext&, const sy_router_args& args) override {
    // The SDK's checks every router makes: contiguous CPU f32/bf16 logits with no NaN or Inf
    // (they mean the model upstream is broken; the conformance suite checks the refusal),
    // k <= experts, and outputs of the right shape.
    const sy::RouterCall call = sy::CheckRouterCall(args, k_);
    const float weight = 1.0f / static_cast<float>(k_);
    const uint64_t e = static_cast<uint64_t>(call.experts);
    for (int64_t t = 0; t < call.tokens; ++t) {
      // Reduce each term first so the sum cannot overflow for any token count.
      const uint64_t base =
          (static_cast<uint64_t>(t) % e * static_cast<uint64_t>(k_) + offset_ % e) % e;
      for (int32_t j = 0; j < k_; ++j) {
        call.ids[t * k_ + j] = static_cast<int32_t>((base + static_cast<uint64_t>(j)) % e);
        call.weights[t * k_ + j] = weight;
      }
    }
  }

 private:
  int32_t k_;
  uint64_t offset_;
};

}  // namespace
}  // namespace example

// The library's one exported symbol, sy_plugin_init: plugin name, version, then one
// descriptor per component. The component is addressed as "router.round_robin".
SY_EXPORT_PLUGIN("example.round_robin", "1.0.0",
                 sy::RouterComponent<example::RoundRobin>(
                     "round_robin", "token t -> experts (t*k + j + offset) mod E, weights 1/k"))
