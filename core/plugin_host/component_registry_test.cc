// Discovery over a folder of good and broken plugins: the broken ones are reported and
// skipped, everything else loads, and names resolve (including kind.auto).
#include "core/plugin_host/component_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy {
namespace {

using ::testing::HasSubstr;

class ComponentRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins",
                        SY_TEST_BINARY_DIR "/test_plugins", "/nonexistent/folder"});
  }
  std::string ErrorFor(const std::string& file) const {
    for (const auto& e : registry_.load_errors()) {
      if (e.path.ends_with(file)) return e.message;
    }
    return "";
  }
  ComponentRegistry registry_;
};

TEST_F(ComponentRegistryTest, BrokenLibrariesAreReportedAndSkipped) {
  EXPECT_THAT(ErrorFor("not_a_library.so"), HasSubstr("not a loadable shared library"));
  EXPECT_THAT(ErrorFor("sy_test_no_entry.so"), HasSubstr("no sy_plugin_init"));
  EXPECT_THAT(ErrorFor("sy_test_abi_major.so"), HasSubstr("major versions differ"));
  EXPECT_THAT(ErrorFor("sy_test_abi_minor_newer.so"), HasSubstr("newer than the host"));
  EXPECT_THAT(ErrorFor("sy_test_init_null.so"), HasSubstr("returned NULL"));
  EXPECT_THAT(ErrorFor("sy_test_null_create.so"), HasSubstr("NULL create"));
}

TEST_F(ComponentRegistryTest, DuplicateNameIsSkippedAndTheRestOfItsLibraryLoads) {
  EXPECT_THAT(ErrorFor("sy_test_duplicate.so"),
              HasSubstr("router.softmax_topk (already provided by"));
  auto original = registry_.Find("router.softmax_topk");
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(original->library->name(), "builtin.softmax_topk");
  auto survivor = registry_.Find("router.first_expert");
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  EXPECT_EQ(survivor->library->name(), "test.duplicate");
}

TEST_F(ComponentRegistryTest, GoodPluginsStillLoad) {
  std::vector<std::string> names;
  for (const auto& c : registry_.List()) names.push_back(c.info->full_name);
  EXPECT_THAT(names, ::testing::IsSupersetOf(
                         {"router.softmax_topk", "router.faulty", "router.first_expert"}));
}

TEST_F(ComponentRegistryTest, UnknownNamesListTheAlternatives) {
  auto missing = registry_.Find("router.nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("available: "));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("router.softmax_topk"));
  EXPECT_THAT(std::string(registry_.Find("gizmo.x").status().message()),
              HasSubstr("unknown component kind 'gizmo'"));
  EXPECT_THAT(std::string(registry_.Find("softmax_topk").status().message()),
              HasSubstr("KIND.NAME"));
  EXPECT_THAT(std::string(registry_.Find("comm.nope").status().message()),
              HasSubstr("comm.local"));
}

TEST_F(ComponentRegistryTest, AutoPicksAComponentThatCanRun) {
  auto best = registry_.Find("router.auto");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_GT(best->score, 0);
  EXPECT_EQ(best->info->kind, SY_KIND_ROUTER);
}

TEST_F(ComponentRegistryTest, LoadingTheSameFileTwiceIsANoOp) {
  const size_t before = registry_.libraries().size();
  EXPECT_TRUE(
      registry_.LoadLibrary(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/sy_router_softmax_topk.so")
          .ok());
  EXPECT_EQ(registry_.libraries().size(), before);
}

}  // namespace
}  // namespace sy
