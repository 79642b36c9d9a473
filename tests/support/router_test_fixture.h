// Test helpers shared by the router plugins' unit tests: load one plugin library, create its
// router from a config, route a batch through the host wrapper, and read the outputs back.
#ifndef SWITCHYARD_TESTS_SUPPORT_ROUTER_TEST_FIXTURE_H_
#define SWITCHYARD_TESTS_SUPPORT_ROUTER_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/router.h"
#include "tests/support/plugin_test_fixture.h"

namespace sy::router_test {

// The expert ids of every slot, row-major [tokens, k].
inline std::vector<int32_t> Ids(const RouterOutput& out) {
  const auto* p = out.expert_ids.data<int32_t>();
  return {p, p + out.expert_ids.numel()};
}

// The weights of every slot, row-major [tokens, k].
inline std::vector<float> Weights(const RouterOutput& out) {
  const auto* p = out.expert_weights.data<float>();
  return {p, p + out.expert_weights.numel()};
}

// Fixture for one router plugin library under lib/switchyard/plugins of the build tree.
class RouterPluginTest : public plugin_test::PluginLibraryTest<Router> {
 protected:
  RouterPluginTest(std::string library, std::string component)
      : PluginLibraryTest(std::move(library), std::move(component)) {}

  // The routing of `inputs`, or the error of creating the router or of routing.
  absl::StatusOr<RouterOutput> TryRoute(ConfigTable config, const RouterInputs& inputs) {
    SY_ASSIGN_OR_RETURN(Router router, Create(std::move(config)));
    return router.Route(*ctx_, inputs);
  }

  // The routing of `inputs`; a failure is a test failure.
  RouterOutput Route(ConfigTable config, const RouterInputs& inputs) {
    auto out = TryRoute(std::move(config), inputs);
    EXPECT_TRUE(out.ok()) << out.status();
    return *out;
  }
};

}  // namespace sy::router_test

#endif  // SWITCHYARD_TESTS_SUPPORT_ROUTER_TEST_FIXTURE_H_
