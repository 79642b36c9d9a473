// scheduler.continuous, loaded from its .so: the budget, the order, chunking and preemption.
#include <gtest/gtest.h>

#include "core/plugin_host/scheduler.h"
#include "tests/support/plugin_test_fixture.h"

namespace sy {
namespace {

class ContinuousTest : public plugin_test::PluginLibraryTest<Scheduler> {
 protected:
  ContinuousTest() : PluginLibraryTest("sy_scheduler_continuous", "scheduler.continuous") {}
};

sy_sched_sequence Running(uint64_t id, int32_t cached, int32_t pending, int32_t blocks) {
  return {id, static_cast<int64_t>(id), 1, cached, pending, blocks, 1};
}
sy_sched_sequence Waiting(uint64_t id, int32_t prompt) {
  return {id, static_cast<int64_t>(id), 0, 0, prompt, 0, 0};
}

// Decodes first, then the oldest waiting prompt cut to what is left of the budget; the next
// waiting prompt gets nothing this step.
TEST_F(ContinuousTest, DecodesFirstThenChunksThePromptsIntoTheBudget) {
  auto scheduler = *Create({{"max_batch_tokens", ConfigValue{int64_t{10}}}});
  const std::vector<sy_sched_sequence> seqs = {Running(1, 16, 1, 1), Running(2, 20, 1, 2),
                                               Waiting(3, 30), Waiting(4, 5)};
  auto d = scheduler.Schedule(seqs, {100, 100, 16}, 0);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->scheduled.size(), 3u);
  EXPECT_EQ(d->scheduled[0].index, 0);
  EXPECT_EQ(d->scheduled[0].tokens, 1);
  EXPECT_EQ(d->scheduled[1].index, 1);
  EXPECT_EQ(d->scheduled[2].index, 2);
  EXPECT_EQ(d->scheduled[2].tokens, 8);  // 10 - 2 decodes
  EXPECT_TRUE(d->preempted.empty());
}

TEST_F(ContinuousTest, WithoutChunkingAPromptWaitsForRoom) {
  auto scheduler = *Create(
      {{"max_batch_tokens", ConfigValue{int64_t{10}}}, {"chunked_prefill", ConfigValue{false}}});
  const std::vector<sy_sched_sequence> seqs = {Running(1, 16, 1, 1), Waiting(2, 30)};
  auto d = scheduler.Schedule(seqs, {100, 100, 16}, 0);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->scheduled.size(), 1u);  // the 30-token prompt does not fit beside the decode
  // Alone, an oversized prompt runs whole rather than never.
  auto alone = scheduler.Schedule({Waiting(2, 30)}, {100, 100, 16}, 1);
  ASSERT_EQ(alone->scheduled.size(), 1u);
  EXPECT_EQ(alone->scheduled[0].tokens, 30);
}

// Sequence 1 (oldest) needs a new block and none is free: the newest running sequence (3) is
// preempted for it, and nothing waiting is admitted in a step that preempted.
TEST_F(ContinuousTest, PreemptsTheNewestRunningSequenceForBlocks) {
  auto scheduler = *Create();
  const std::vector<sy_sched_sequence> seqs = {Running(1, 32, 1, 2), Running(2, 5, 1, 1),
                                               Running(3, 5, 1, 1), Waiting(4, 3)};
  auto d = scheduler.Schedule(seqs, {0, 4, 16}, 0);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->preempted.size(), 1u);
  EXPECT_EQ(d->preempted[0], 2);
  ASSERT_EQ(d->scheduled.size(), 2u);
  EXPECT_EQ(d->scheduled[0].index, 0);
  EXPECT_EQ(d->scheduled[1].index, 1);
}

TEST_F(ContinuousTest, PrefillFirstAdmitsPromptsBeforeDecodes) {
  auto scheduler = *Create({{"max_batch_tokens", ConfigValue{int64_t{8}}},
                            {"priority", ConfigValue{std::string("prefillFirst")}}});
  const std::vector<sy_sched_sequence> seqs = {Running(1, 16, 1, 1), Waiting(2, 8)};
  auto d = scheduler.Schedule(seqs, {100, 100, 16}, 0);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->scheduled.size(), 1u);  // the prompt took the whole budget
  EXPECT_EQ(d->scheduled[0].index, 1);
}

TEST_F(ContinuousTest, RefusesABadConfig) {
  EXPECT_FALSE(Create({{"max_batch_tokens", ConfigValue{int64_t{0}}}}).ok());
  EXPECT_FALSE(Create({{"priority", ConfigValue{std::string("sometimes")}}}).ok());
}

}  // namespace
}  // namespace sy
