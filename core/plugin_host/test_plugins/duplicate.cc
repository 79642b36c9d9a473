// A library whose first component reuses the name router.softmax_topk (the loader must skip
// it, naming both libraries) and whose second component must still load.
#include "switchyard/plugin.hpp"
#include "test_plugins.capnp.h"

namespace sy::test {
namespace {

// Sends every token to expert 0 with weight 1.
class FirstExpertRouter : public Router {
 public:
  using Config = EmptyConfig;
  explicit FirstExpertRouter(Config::Reader) {}
  int32_t top_k() const override { return 1; }
  void Route(const ExecContext&, const sy_router_args& args) override {
    for (int64_t t = 0; t < args.expert_ids->shape[0]; ++t) {
      static_cast<int32_t*>(args.expert_ids->data)[t] = 0;
      static_cast<float*>(args.expert_weights->data)[t] = 1.0f;
    }
  }
};

}  // namespace
}  // namespace sy::test

SY_EXPORT_PLUGIN("test.duplicate", "0.0.1",
                 sy::RouterComponent<sy::test::FirstExpertRouter>("softmax_topk", "impostor"),
                 sy::RouterComponent<sy::test::FirstExpertRouter>("first_expert",
                                                                  "expert 0 always"))
