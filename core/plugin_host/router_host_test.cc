// Creating and calling router components through the host: config validation, plugin
// failures turned into Status, and the checks on what a plugin returns.
#include "core/plugin_host/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/plugin_host/component.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class RouterHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover(
        {SY_TEST_BINARY_DIR "/lib/switchyard/plugins", SY_TEST_BINARY_DIR "/test_plugins"});
    ctx_ = *ExecContext::Create(Device::Cpu(), 1);
    logits_ = *Tensor::FromF32({2, 4}, {0.1f, 2.0f, -1.0f, 0.5f, 3.0f, 0.0f, 0.0f, 2.9f});
  }
  absl::StatusOr<Router> Make(const std::string& name, ConfigValue config) {
    auto found = registry_.Find(name);
    if (!found.ok()) return found.status();
    auto component = Component::Create(*found, config);
    if (!component.ok()) return component.status();
    return Router::From(*component);
  }
  absl::Status RouteFaulty(const std::string& behaviour) {
    auto router = Make("router.faulty", {ConfigTable{{"behaviour", {behaviour}}}});
    if (!router.ok()) return router.status();
    return router->Route(*ctx_, {logits_}).status();
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> ctx_;
  Tensor logits_;
};

TEST_F(RouterHostTest, SoftmaxTopKRoutesThroughTheHost) {
  auto router = Make("router.softmax_topk", {ConfigTable{{"k", {int64_t{2}}}}});
  ASSERT_TRUE(router.ok()) << router.status();
  EXPECT_EQ(router->top_k(), 2);
  auto out = router->Route(*ctx_, {logits_});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->expert_ids.data<int32_t>()[0], 1);
  EXPECT_EQ(out->expert_ids.data<int32_t>()[1], 3);
  EXPECT_EQ(out->expert_ids.data<int32_t>()[2], 0);
  EXPECT_EQ(out->expert_ids.data<int32_t>()[3], 3);
  EXPECT_NEAR(out->expert_weights.data<float>()[0] + out->expert_weights.data<float>()[1], 1.0f,
              1e-6);
}

TEST_F(RouterHostTest, ComponentKeepsItsConfigWithDefaults) {
  auto found = registry_.Find("router.softmax_topk");
  auto component = Component::Create(*found, {ConfigTable{{"k", {int64_t{3}}}}});
  ASSERT_TRUE(component.ok());
  EXPECT_EQ((*component)->config().ToText(), "(k = 3, renormalize = true)");
}

TEST_F(RouterHostTest, BadConfigsAreRefusedWithTheField) {
  auto unknown = Make("router.softmax_topk", {ConfigTable{{"kk", {int64_t{2}}}}});
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("unknown field 'kk' (known fields: k, renormalize)"));
  auto wrong_type = Make("router.softmax_topk", {ConfigTable{{"k", {std::string("two")}}}});
  EXPECT_THAT(std::string(wrong_type.status().message()),
              HasSubstr("field 'k' expected a number, got string"));
  auto below = Make("router.softmax_topk", {ConfigTable{{"k", {int64_t{0}}}}});
  EXPECT_THAT(std::string(below.status().message()),
              HasSubstr("field 'k' = 0 is below its minimum 1"));
  auto bad_enum = Make("router.faulty", {ConfigTable{{"behaviour", {std::string("explode")}}}});
  EXPECT_THAT(std::string(bad_enum.status().message()),
              HasSubstr("is not one of: ok, createFails"));
}

TEST_F(RouterHostTest, KLargerThanExpertsIsAnError) {
  auto router = Make("router.softmax_topk", {ConfigTable{{"k", {int64_t{5}}}}});
  ASSERT_TRUE(router.ok());
  EXPECT_THAT(std::string(router->Route(*ctx_, {logits_}).status().message()),
              HasSubstr("top_k 5 is not in [1, 4]"));
}

TEST_F(RouterHostTest, PluginFailuresBecomeStatuses) {
  EXPECT_THAT(std::string(RouteFaulty("createFails").message()),
              HasSubstr("router.faulty: create failed: asked to fail in create"));
  const absl::Status thrown = RouteFaulty("routeThrows");
  EXPECT_EQ(thrown.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(thrown.message()), HasSubstr("router.faulty: route: route exploded"));
  EXPECT_THAT(std::string(RouteFaulty("unknownException").message()),
              HasSubstr("unknown exception"));
}

TEST_F(RouterHostTest, GarbageOutputsAreCaught) {
  EXPECT_THAT(std::string(RouteFaulty("outOfRangeId").message()),
              HasSubstr("returned expert id 999 for token 0 (experts: 4)"));
  EXPECT_THAT(std::string(RouteFaulty("nanWeight").message()), HasSubstr("non-finite weight"));
  EXPECT_THAT(std::string(RouteFaulty("zeroTopK").message()),
              HasSubstr("top_k 0 is not in [1, 4]"));
  EXPECT_TRUE(RouteFaulty("ok").ok());
}

TEST_F(RouterHostTest, NonFiniteLogitsAreRefusedByTheRouter) {
  auto router = Make("router.softmax_topk", {});
  ASSERT_TRUE(router.ok());
  Tensor bad = *Tensor::FromF32({1, 2}, {0.0f, NAN});
  EXPECT_THAT(std::string(router->Route(*ctx_, {bad}).status().message()),
              HasSubstr("logits: element [0, 1] is NaN"));
}

TEST_F(RouterHostTest, InputsAreChecked) {
  auto router = Make("router.softmax_topk", {});
  ASSERT_TRUE(router.ok());
  Tensor flat = *Tensor::FromF32({4}, {1, 2, 3, 4});
  EXPECT_THAT(std::string(router->Route(*ctx_, {flat}).status().message()),
              HasSubstr("[tokens, experts]"));
  RouterInputs with_bad_ids{logits_, *Tensor::FromF32({2}, {0, 1}), std::nullopt};
  EXPECT_THAT(std::string(router->Route(*ctx_, with_bad_ids).status().message()),
              HasSubstr("token_ids must be i32 [2]"));
}

TEST_F(RouterHostTest, ComponentKeepsItsLibraryAlive) {
  std::shared_ptr<Component> component;
  {
    ComponentRegistry scoped;
    scoped.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    component = *Component::Create(*scoped.Find("router.softmax_topk"), {});
  }  // the registry and its references to the library are gone; the component's remains
  auto router = Router::From(component);
  ASSERT_TRUE(router.ok());
  EXPECT_TRUE(router->Route(*ctx_, {logits_}).ok());
}

}  // namespace
}  // namespace sy
