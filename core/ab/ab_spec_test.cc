#include "core/ab/ab_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy::ab {
namespace {

using ::testing::HasSubstr;

TEST(AbSpecTest, ParsesEveryKey) {
  auto options = ParseSide(
      "router=router.hash, quantizer=quantizer.int4,experts=experts.cpu,capacity=1.25,"
      "overflow=reroute");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->router, "router.hash");
  EXPECT_EQ(options->quantizer, "quantizer.int4");
  EXPECT_EQ(options->experts, "experts.cpu");
  ASSERT_TRUE(options->capacity.has_value());
  EXPECT_DOUBLE_EQ(options->capacity->factor, 1.25);
  EXPECT_EQ(options->capacity->overflow, CapacityLimit::Overflow::kReroute);
}

TEST(AbSpecTest, EmptyAndNoneAreTheModelAsLoaded) {
  for (const char* spec : {"", "quantizer=none"}) {
    auto options = ParseSide(spec);
    ASSERT_TRUE(options.ok()) << spec;
    EXPECT_EQ(options->router, "");
    EXPECT_EQ(options->quantizer, "");
    EXPECT_EQ(options->experts, ModelOptions{}.experts);  // the model runtime's default
    EXPECT_FALSE(options->capacity.has_value());
  }
  auto capacity = ParseSide("capacity=2");
  ASSERT_TRUE(capacity.ok());
  EXPECT_EQ(capacity->capacity->overflow, CapacityLimit::Overflow::kDrop);
}

TEST(AbSpecTest, BadPartsAreNamed) {
  EXPECT_THAT(ParseSide("quantiser=quantizer.int4").status().message(),
              HasSubstr("unknown key 'quantiser' (keys: router, quantizer"));
  EXPECT_THAT(ParseSide("router").status().message(), HasSubstr("'router': expected key=value"));
  EXPECT_THAT(ParseSide("capacity=0").status().message(), HasSubstr("capacity: expected a factor"));
  EXPECT_THAT(ParseSide("capacity=x").status().message(), HasSubstr("got 'x'"));
  EXPECT_THAT(ParseSide("overflow=spill,capacity=1").status().message(),
              HasSubstr("overflow: expected drop or reroute"));
  EXPECT_THAT(ParseSide("overflow=drop").status().message(), HasSubstr("needs capacity"));
  EXPECT_THAT(ParseSide("router=a,router=b").status().message(), HasSubstr("given twice"));
  EXPECT_THAT(ParseSide("router=").status().message(), HasSubstr("has no value"));
}

}  // namespace
}  // namespace sy::ab
