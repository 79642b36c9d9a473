#include "shells/switchyard/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CommandLineTest, ParsesOptionsFlagsAndPositionals) {
  auto args = Parse({"--describe", "router.x", "--plugin-path=/a", "--plugin-path", "/b", "pos"},
                    {{"describe", true}}, false);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("describe"), "router.x");
  EXPECT_THAT(args->GetAll("plugin-path"), ElementsAre("/a", "/b"));
  EXPECT_THAT(args->positional, ElementsAre("pos"));
}

TEST(CommandLineTest, StopsAtTheScriptForRun) {
  auto args = Parse({"--log", "debug", "script.lua", "--help", "x"}, {}, true);
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Has("help"));
  EXPECT_THAT(args->positional, ElementsAre("script.lua", "--help", "x"));
}

TEST(CommandLineTest, RefusesUnknownAndMalformedOptions) {
  EXPECT_THAT(std::string(Parse({"--bogus"}, {}, false).status().message()),
              HasSubstr("unknown option --bogus"));
  EXPECT_THAT(std::string(Parse({"--log"}, {}, false).status().message()),
              HasSubstr("--log needs a value"));
  EXPECT_THAT(std::string(Parse({"--help=1"}, {}, false).status().message()),
              HasSubstr("takes no value"));
  EXPECT_THAT(std::string(Parse({"--log", "info", "--log", "error"}, {}, false).status().message()),
              HasSubstr("given twice"));
  EXPECT_THAT(std::string(Parse({"--log", "loud"}, {}, false).status().message()),
              HasSubstr("--log must be debug, info"));
}

TEST(CommandLineTest, ReadsIntegersAndNamesTheOptionThatIsNotOne) {
  auto args = Parse({"--steps", "12", "--batch", "x", "--layers", "0"},
                    {{"steps", true}, {"batch", true}, {"layers", true}}, false);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(*args->GetInt("steps", 3, 1), 12);
  EXPECT_EQ(*args->GetInt("context", 256, 1), 256);
  EXPECT_EQ(std::string(args->GetInt("batch", 1, 1).status().message()),
            "--batch: expected an integer >= 1, got 'x'");
  EXPECT_EQ(std::string(args->GetInt("layers", 1, 1).status().message()),
            "--layers: expected an integer >= 1, got '0'");
  EXPECT_EQ(*args->GetInt("layers", 1, 0), 0);
  // Above the destination type's range: an error, never a wrapped value.
  auto big = Parse({"--steps", "99999999999"}, {{"steps", true}}, false);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(std::string(big->GetInt("steps", 1, 0).status().message()),
            "--steps: expected an integer in [0, 2147483647], got '99999999999'");
  EXPECT_EQ(*big->GetInt<int64_t>("steps", 1, 0), 99999999999);
}

TEST(TextTableTest, AlignsColumns) {
  TextTable table({"A", "LONGER"});
  table.AddRow({"wide cell", "x"});
  EXPECT_EQ(table.Render(), "A          LONGER\n---------  ------\nwide cell  x\n");
}

}  // namespace
}  // namespace sy::cli
