// Config schemas exported the way plugins export them (the SDK's ConfigSchemaOf), loaded by
// the host, described, and built from ConfigValue tables with full validation.
#include "core/config/config_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "switchyard/plugin.hpp"
#include "test_config.capnp.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

// Reads a built config the way a plugin does: from the segment array, as the generated type.
class PluginView {
 public:
  explicit PluginView(const ConfigMessage& message) {
    const sy_message* m = message.c_message();
    for (size_t i = 0; i < m->segment_count; ++i) {
      segments_.emplace_back(reinterpret_cast<const capnp::word*>(m->segments[i]),
                             m->segment_words[i]);
    }
    reader_ = std::make_unique<capnp::SegmentArrayMessageReader>(
        kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>(segments_.data(), segments_.size()));
  }
  test::TestConfig::Reader get() { return reader_->getRoot<test::TestConfig>(); }

 private:
  std::vector<kj::ArrayPtr<const capnp::word>> segments_;
  std::unique_ptr<capnp::SegmentArrayMessageReader> reader_;
};

ConfigValue Table(ConfigTable entries) { return {std::move(entries)}; }
ConfigValue Int(int64_t v) { return {v}; }
ConfigValue Num(double v) { return {v}; }
ConfigValue Str(const char* v) { return {std::string(v)}; }

class ConfigSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto schema =
        ConfigSchema::Load(*loader_, internal::ConfigSchemaOf<test::TestConfig>(), "test");
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_.emplace(*schema);
  }
  std::string BuildError(ConfigValue value) {
    auto built = schema_->Build(value, "router.test");
    EXPECT_FALSE(built.ok());
    return built.ok() ? "" : std::string(built.status().message());
  }
  // Behind a pointer: kj destructors may throw, which a test fixture's destructor may not.
  std::unique_ptr<capnp::SchemaLoader> loader_ = std::make_unique<capnp::SchemaLoader>();
  std::optional<ConfigSchema> schema_;
};

TEST_F(ConfigSchemaTest, DescribesFieldsWithTypesDefaultsRangesAndDocs) {
  const auto fields = schema_->Fields();
  std::map<std::string, ConfigFieldInfo> by_name;
  for (const auto& f : fields) by_name[f.name] = f;
  EXPECT_EQ(by_name["count"].type, "UInt32");
  EXPECT_EQ(by_name["count"].default_value, "4");
  EXPECT_EQ(by_name["count"].min, 1.0);
  EXPECT_EQ(by_name["count"].max, 64.0);
  EXPECT_EQ(by_name["count"].doc, "how many");
  EXPECT_EQ(by_name["scale"].default_value, "1.5");
  EXPECT_EQ(by_name["mode"].type, "enum {fast, exact}");
  EXPECT_EQ(by_name["mode"].default_value, "fast");
  EXPECT_EQ(by_name["weights"].type, "List(Float32)");
  EXPECT_EQ(by_name["limits.low"].default_value, "-1");
  EXPECT_EQ(by_name["policy.drop"].union_of, "policy");
  EXPECT_EQ(by_name["inner"].type, "Inner");
}

TEST_F(ConfigSchemaTest, EmptyConfigGivesDefaults) {
  auto built = schema_->Build({}, "router.test");
  ASSERT_TRUE(built.ok()) << built.status();
  PluginView view(**built);
  auto r = view.get();
  EXPECT_EQ(r.getCount(), 4u);
  EXPECT_FLOAT_EQ(r.getScale(), 1.5f);
  EXPECT_EQ(std::string(r.getName().cStr()), "default");
  EXPECT_TRUE(r.getPolicy().isNone());
}

TEST_F(ConfigSchemaTest, BuildsEveryKindOfField) {
  auto built =
      schema_->Build(Table({{"count", Int(8)},
                            {"scale", Int(2)},  // integers are fine for float fields
                            {"name", Str("x")},
                            {"enabled", {true}},
                            {"mode", Str("exact")},
                            {"small", Num(-3.0)},  // integral floats are fine for integer fields
                            {"weights", {ConfigList{Num(0.5), Int(1)}}},
                            {"inner", Table({{"label", Str("in")}})},
                            {"limits", Table({{"high", Int(9)}})},
                            {"policy", Table({{"reroute", Int(7)}})},
                            {"stages", {ConfigList{Table({{"level", Int(1)}}), Table({})}}}}),
                     "router.test");
  ASSERT_TRUE(built.ok()) << built.status();
  PluginView view(**built);
  auto r = view.get();
  EXPECT_EQ(r.getCount(), 8u);
  EXPECT_FLOAT_EQ(r.getScale(), 2.0f);
  EXPECT_TRUE(r.getEnabled());
  EXPECT_EQ(r.getMode(), test::TestConfig::Mode::EXACT);
  EXPECT_EQ(r.getSmall(), -3);
  ASSERT_EQ(r.getWeights().size(), 2u);
  EXPECT_FLOAT_EQ(r.getWeights()[1], 1.0f);
  EXPECT_EQ(std::string(r.getInner().getLabel().cStr()), "in");
  EXPECT_EQ(r.getInner().getLevel(), 3);
  EXPECT_EQ(r.getLimits().getLow(), -1);
  EXPECT_EQ(r.getLimits().getHigh(), 9);
  ASSERT_TRUE(r.getPolicy().isReroute());
  EXPECT_EQ(r.getPolicy().getReroute(), 7);
  ASSERT_EQ(r.getStages().size(), 2u);
  EXPECT_EQ(r.getStages()[0].getLevel(), 1);
  EXPECT_EQ(r.getStages()[1].getLevel(), 3);
}

TEST_F(ConfigSchemaTest, RoundTripsToValueAndText) {
  auto built =
      schema_->Build(Table({{"count", Int(2)}, {"policy", Table({{"drop", Num(0.25)}})}}), "t");
  ASSERT_TRUE(built.ok());
  const ConfigValue value = (*built)->ToValue();
  const auto& table = std::get<ConfigTable>(value.value);
  EXPECT_EQ(table[0].first, "count");
  EXPECT_EQ(std::get<int64_t>(table[0].second.value), 2);
  EXPECT_THAT((*built)->ToText(), HasSubstr("policy = (drop = 0.25)"));
}

TEST_F(ConfigSchemaTest, AcceptsSnakeCaseSpellingsOfCamelCaseFields) {
  auto built = schema_->Build(Table({{"max_tokens", Int(5)}}), "router.test");
  ASSERT_TRUE(built.ok()) << built.status();
  PluginView view(**built);
  EXPECT_EQ(view.get().getMaxTokens(), 5u);
  EXPECT_THAT(BuildError(Table({{"max_tokenz", Int(5)}})), HasSubstr("unknown field 'max_tokenz'"));
  EXPECT_THAT(
      BuildError(Table({{"maxTokens", Int(1)}, {"max_tokens", Int(5)}})),
      HasSubstr("field 'max_tokens' is given twice (as 'maxTokens' and its snake_case spelling)"));
}

TEST_F(ConfigSchemaTest, RefusesUnknownFieldsListingTheKnownOnes) {
  EXPECT_THAT(BuildError(Table({{"cuont", Int(1)}})),
              HasSubstr("router.test: unknown field 'cuont' (known fields: count, scale, name"));
  EXPECT_THAT(BuildError(Table({{"inner", Table({{"lable", Str("x")}})}})),
              HasSubstr("unknown field 'inner.lable'"));
}

TEST_F(ConfigSchemaTest, RefusesWrongTypes) {
  EXPECT_THAT(BuildError(Table({{"count", Str("8")}})),
              HasSubstr("field 'count' expected a number, got string"));
  EXPECT_THAT(BuildError(Table({{"enabled", Int(1)}})),
              HasSubstr("field 'enabled' expected a boolean, got integer"));
  EXPECT_THAT(BuildError(Table({{"name", {true}}})),
              HasSubstr("field 'name' expected a string, got boolean"));
  EXPECT_THAT(BuildError(Table({{"count", Num(2.5)}})),
              HasSubstr("field 'count' expected an integer, got 2.5"));
  EXPECT_THAT(BuildError(Table({{"weights", Num(1)}})),
              HasSubstr("field 'weights' expected a list, got number"));
  EXPECT_THAT(BuildError(Table({{"weights", {ConfigList{Str("a")}}}})),
              HasSubstr("field 'weights[1]' expected a number"));
  EXPECT_THAT(BuildError(Table({{"inner", Int(1)}})),
              HasSubstr("field 'inner' expected a table, got integer"));
  EXPECT_THAT(BuildError(Table({{"mode", Str("slow")}})),
              HasSubstr("field 'mode' = \"slow\" is not one of: fast, exact"));
  EXPECT_THAT(BuildError(Int(3)), HasSubstr("router.test: config expected a table, got integer"));
}

TEST_F(ConfigSchemaTest, RefusesOutOfRangeValues) {
  EXPECT_THAT(BuildError(Table({{"count", Int(0)}})),
              HasSubstr("field 'count' = 0 is below its minimum 1"));
  EXPECT_THAT(BuildError(Table({{"count", Int(65)}})),
              HasSubstr("field 'count' = 65 is above its maximum 64"));
  EXPECT_THAT(BuildError(Table({{"small", Int(200)}})),
              HasSubstr("field 'small' = 200 does not fit its type Int8"));
  EXPECT_THAT(BuildError(Table({{"count", Int(-1)}})), HasSubstr("does not fit its type UInt32"));
  EXPECT_THAT(BuildError(Table({{"scale", Num(-0.5)}})),
              HasSubstr("field 'scale' = -0.5 is below its minimum 0"));
  EXPECT_THAT(BuildError(Table({{"scale", Num(INFINITY)}})), HasSubstr("must be a finite number"));
}

TEST_F(ConfigSchemaTest, RefusesTwoMembersOfOneUnion) {
  EXPECT_THAT(BuildError(Table({{"policy", Table({{"drop", Num(1)}, {"reroute", Int(2)}})}})),
              HasSubstr("field 'policy.reroute' cannot be set together with 'drop'"));
  EXPECT_THAT(BuildError(Table({{"policy", Table({{"none", {false}}})}})),
              HasSubstr("set it to true"));
}

TEST_F(ConfigSchemaTest, RefusesMalformedExportedSchemas) {
  auto owned_loader = std::make_unique<capnp::SchemaLoader>();
  capnp::SchemaLoader& loader = *owned_loader;
  const uint64_t garbage[] = {0xffffffffffffffffull, 0x1234, 0x5678};
  const sy_schema_node node = {garbage, 3};
  auto broken = ConfigSchema::Load(loader, {1, &node, 1}, "lib.so: router.x");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(std::string(broken.status().message()),
              HasSubstr("lib.so: router.x: malformed config schema"));
  auto missing_root = ConfigSchema::Load(loader, {42, nullptr, 0}, "lib.so: router.y");
  EXPECT_THAT(std::string(missing_root.status().message()),
              HasSubstr("exports no config schema nodes"));
  sy_config_schema wrong_root = internal::ConfigSchemaOf<test::Inner>();
  wrong_root.root_type_id = 7;
  EXPECT_THAT(std::string(ConfigSchema::Load(loader, wrong_root, "lib.so").status().message()),
              HasSubstr("is not among its schema nodes"));
}

}  // namespace
}  // namespace sy
