// The fixture the plugin unit tests build on: load one plugin library from the build tree and
// create its component from a config, wrapped in the host class of its kind (Router,
// Quantizer, Experts). Kind-specific fixtures (quantizer_test_fixture.h, router_test_fixture.h)
// derive from it and add their kind's helpers.
#ifndef SWITCHYARD_TESTS_SUPPORT_PLUGIN_TEST_FIXTURE_H_
#define SWITCHYARD_TESTS_SUPPORT_PLUGIN_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "core/base/status.h"
#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"

namespace sy::plugin_test {

// Fixture for one plugin library under lib/switchyard/plugins of the build tree (`library`
// without ".so") and one of its components (`component`, by full name), of the kind `Host`
// wraps.
template <typename Host>
class PluginLibraryTest : public ::testing::Test {
 protected:
  PluginLibraryTest(std::string library, std::string component)
      : library_(std::move(library)), component_(std::move(component)) {}

  void SetUp() override {
    const std::string path =
        std::string(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/") + library_ + ".so";
    ASSERT_TRUE(registry_.LoadLibrary(path).ok()) << path;
    ctx_ = *ExecContext::Create(Device::Cpu(), 1);
  }

  absl::StatusOr<Host> Create(ConfigTable config = {}) {
    SY_ASSIGN_OR_RETURN(RegisteredComponent registered, registry_.Find(component_));
    SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component,
                        Component::Create(registered, {std::move(config)}));
    return Host::From(std::move(component));
  }

  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;

 private:
  std::string library_;
  std::string component_;
};

}  // namespace sy::plugin_test

#endif  // SWITCHYARD_TESTS_SUPPORT_PLUGIN_TEST_FIXTURE_H_
