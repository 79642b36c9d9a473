// router.faulty: a component that misbehaves on request, so host tests can check that every
// failure becomes a clear error and nothing crashes.
#include <cmath>
#include <stdexcept>

#include "switchyard/plugin.hpp"
#include "test_plugins.capnp.h"

namespace sy::test {
namespace {

class FaultyRouter : public Router {
 public:
  using Config = FaultyConfig;
  using Behaviour = FaultyConfig::Behaviour;

  explicit FaultyRouter(Config::Reader config) : behaviour_(config.getBehaviour()) {
    if (behaviour_ == Behaviour::CREATE_FAILS) {
      throw PluginError(SY_FAILED_PRECONDITION, "asked to fail in create");
    }
  }

  int32_t top_k() const override { return behaviour_ == Behaviour::ZERO_TOP_K ? 0 : 1; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    if (behaviour_ == Behaviour::ROUTE_THROWS) throw std::runtime_error("route exploded");
    if (behaviour_ == Behaviour::UNKNOWN_EXCEPTION) throw 42;
    auto* ids = static_cast<int32_t*>(args.expert_ids->data);
    auto* weights = static_cast<float*>(args.expert_weights->data);
    for (int64_t t = 0; t < args.expert_ids->shape[0]; ++t) {
      ids[t] = behaviour_ == Behaviour::OUT_OF_RANGE_ID ? 999 : 0;
      weights[t] = behaviour_ == Behaviour::NAN_WEIGHT ? NAN : 1.0f;
    }
  }

 private:
  Behaviour behaviour_;
};

}  // namespace
}  // namespace sy::test

SY_EXPORT_PLUGIN("test.faulty", "0.0.1",
                 sy::RouterComponent<sy::test::FaultyRouter>("faulty", "misbehaves on request"))
