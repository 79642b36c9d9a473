#include "core/ab/ab_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace sy::ab {
namespace {

using ::testing::HasSubstr;

TEST(AbSpecTest, ParsesEveryKey) {
  auto side = ParseSide(
      "router=router.hash, quantizer=quantizer.int4,experts=experts.cpu,capacity=1.25,"
      "overflow=reroute,comm=comm.pcie,ranks=4,expert_cache=3");
  ASSERT_TRUE(side.ok()) << side.status();
  const ModelOptions* options = &side->model;
  EXPECT_EQ(options->router, "router.hash");
  EXPECT_EQ(options->quantizer, "quantizer.int4");
  EXPECT_EQ(options->experts, "experts.cpu");
  ASSERT_TRUE(options->capacity.has_value());
  EXPECT_DOUBLE_EQ(options->capacity->factor, 1.25);
  EXPECT_EQ(options->capacity->overflow, CapacityLimit::Overflow::kReroute);
  EXPECT_EQ(side->comm, "comm.pcie");
  EXPECT_EQ(side->ranks, 4);
  ASSERT_TRUE(options->experts_config.has_value());
  const auto& table = std::get<ConfigTable>(options->experts_config->value);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table[0].first, "cacheExperts");
  EXPECT_EQ(std::get<int64_t>(table[0].second.value), 3);
}

TEST(AbSpecTest, CommRunsOneRankUnlessToldMore) {
  auto side = ParseSide("comm=comm.local");
  ASSERT_TRUE(side.ok()) << side.status();
  EXPECT_EQ(side->comm, "comm.local");
  EXPECT_EQ(side->ranks, 1);
  EXPECT_EQ(side->model.router, "");          // the rest of the pipeline as loaded
  EXPECT_FALSE(side->model.expert_parallel);  // the group is joined when the side runs
}

TEST(AbSpecTest, EmptyAndNoneAreTheModelAsLoaded) {
  for (const char* spec : {"", "quantizer=none"}) {
    auto side = ParseSide(spec);
    ASSERT_TRUE(side.ok()) << spec;
    EXPECT_EQ(side->comm, "");  // no expert parallelism
    EXPECT_EQ(side->ranks, 1);
    const ModelOptions* options = &side->model;
    EXPECT_EQ(options->router, "");
    EXPECT_EQ(options->quantizer, "");
    EXPECT_EQ(options->experts, ModelOptions{}.experts);  // the model runtime's default
    EXPECT_FALSE(options->capacity.has_value());
  }
  auto capacity = ParseSide("capacity=2");
  ASSERT_TRUE(capacity.ok());
  EXPECT_EQ(capacity->model.capacity->overflow, CapacityLimit::Overflow::kDrop);
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
  EXPECT_THAT(ParseSide("quantiser=x").status().message(), HasSubstr("overflow, comm, ranks)"));
  EXPECT_THAT(ParseSide("ranks=2").status().message(), HasSubstr("ranks needs comm=K.N"));
  EXPECT_THAT(ParseSide("expert_cache=0").status().message(),
              HasSubstr("expert_cache: expected a number of experts >= 1, got '0'"));
  EXPECT_THAT(ParseSide("comm=").status().message(), HasSubstr("'comm' has no value"));
  EXPECT_THAT(ParseSide("comm=comm.pcie,comm=comm.ucx").status().message(),
              HasSubstr("'comm' is given twice"));
  for (const char* ranks : {"0", "-1", "x", "2.5", "65"}) {
    EXPECT_THAT(
        ParseSide(absl::StrCat("comm=comm.pcie,ranks=", ranks)).status().message(),
        HasSubstr(absl::StrCat("ranks: expected an integer from 1 to 64, got '", ranks, "'")))
        << ranks;
  }
}

}  // namespace
}  // namespace sy::ab
