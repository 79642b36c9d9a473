// Loading single plugin libraries: the real softmax_topk plugin, and every kind of broken one.
#include "core/plugin_host/plugin_library.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace sy {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TestPlugin(const std::string& file) {
  return std::string(SY_TEST_BINARY_DIR "/test_plugins/") + file;
}
std::string BuiltinPlugin(const std::string& file) {
  return std::string(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/") + file;
}

std::string LoadError(const std::string& path) {
  auto library = PluginLibrary::Open(path);
  EXPECT_FALSE(library.ok()) << path << " loaded but should not have";
  return library.ok() ? "" : std::string(library.status().message());
}

TEST(PluginLibraryTest, LoadsTheSoftmaxTopKPlugin) {
  auto library = PluginLibrary::Open(BuiltinPlugin("sy_router_softmax_topk.so"));
  ASSERT_TRUE(library.ok()) << library.status();
  EXPECT_EQ((*library)->name(), "builtin.softmax_topk");
  ASSERT_EQ((*library)->components().size(), 1u);
  const ComponentInfo& info = (*library)->components()[0];
  EXPECT_EQ(info.full_name, "router.softmax_topk");
  EXPECT_EQ(info.kind, SY_KIND_ROUTER);
  const auto fields = info.config.Fields();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].name, "k");
  EXPECT_EQ(fields[0].default_value, "2");
  EXPECT_EQ(fields[0].min, 1.0);
}

TEST(PluginLibraryTest, RefusesAFileThatIsNotASharedLibrary) {
  EXPECT_THAT(LoadError(TestPlugin("not_a_library.so")),
              AllOf(HasSubstr("not_a_library.so"), HasSubstr("not a loadable shared library")));
}

TEST(PluginLibraryTest, RefusesAMissingFile) {
  EXPECT_THAT(LoadError(TestPlugin("does_not_exist.so")), HasSubstr("does_not_exist.so"));
}

TEST(PluginLibraryTest, RefusesALibraryWithoutTheEntrySymbol) {
  EXPECT_THAT(LoadError(TestPlugin("sy_test_no_entry.so")),
              AllOf(HasSubstr("sy_test_no_entry.so"), HasSubstr("no sy_plugin_init symbol")));
}

TEST(PluginLibraryTest, RefusesAnotherAbiMajorNamingBothVersions) {
  EXPECT_THAT(LoadError(TestPlugin("sy_test_abi_major.so")),
              AllOf(HasSubstr("sy_test_abi_major.so"),
                    HasSubstr(absl::StrCat("plugin ABI ", SY_ABI_MAJOR + 1, ".", SY_ABI_MINOR)),
                    HasSubstr(absl::StrCat("host's ABI ", SY_ABI_MAJOR, ".", SY_ABI_MINOR)),
                    HasSubstr("major versions differ")));
}

TEST(PluginLibraryTest, RefusesANewerAbiMinorNamingBothVersions) {
  EXPECT_THAT(LoadError(TestPlugin("sy_test_abi_minor_newer.so")),
              AllOf(HasSubstr("sy_test_abi_minor_newer.so"),
                    HasSubstr(absl::StrCat("plugin ABI ", SY_ABI_MAJOR, ".", SY_ABI_MINOR + 1)),
                    HasSubstr(absl::StrCat("newer than the host's ABI ", SY_ABI_MAJOR, ".",
                                           SY_ABI_MINOR))));
}

// A plugin of an older minor fills each vtable only as far as that minor defined it; the host
// must load it (the later fields are read only where struct_size covers them).
TEST(PluginLibraryTest, LoadsAPluginOfAnOlderMinor) {
  auto library =
      PluginLibrary::Open(SY_TEST_BINARY_DIR "/test_plugins_older_minor/sy_test_older_minor.so");
  ASSERT_TRUE(library.ok()) << library.status();
  ASSERT_EQ((*library)->components().size(), 2u);
  EXPECT_EQ((*library)->components()[0].full_name, "experts.older");
  EXPECT_EQ((*library)->components()[1].full_name, "comm.older");
}

TEST(PluginLibraryTest, RefusesAPluginWhoseInitFails) {
  EXPECT_THAT(LoadError(TestPlugin("sy_test_init_null.so")),
              AllOf(HasSubstr("sy_test_init_null.so"), HasSubstr("returned NULL")));
}

TEST(PluginLibraryTest, RefusesAComponentWithoutCreate) {
  EXPECT_THAT(LoadError(TestPlugin("sy_test_null_create.so")),
              AllOf(HasSubstr("router.raw"), HasSubstr("NULL create")));
}

TEST(PluginLibraryTest, KindNamesRoundTrip) {
  for (sy_component_kind kind :
       {SY_KIND_ROUTER, SY_KIND_EXPERTS, SY_KIND_COMM, SY_KIND_SCHEDULER, SY_KIND_QUANTIZER}) {
    EXPECT_EQ(KindFromName(KindName(kind)), kind);
  }
  EXPECT_EQ(KindFromName("bogus"), SY_KIND_INVALID);
}

}  // namespace
}  // namespace sy
