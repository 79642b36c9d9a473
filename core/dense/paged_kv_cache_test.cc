#include "core/dense/paged_kv_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sy {
namespace {

// n tokens of kv_heads * head_dim values, token t's values all equal to base + t.
Tensor Rows(int64_t n, int64_t width, float base) {
  std::vector<float> v(n * width);
  for (int64_t i = 0; i < n * width; ++i) v[i] = base + static_cast<float>(i / width);
  return *Tensor::FromF32({n, width}, v);
}

TEST(PagedKvCacheTest, AllocatorHandsOutAndTakesBackBlocks) {
  BlockAllocator a(2);
  EXPECT_EQ(*a.Allocate(), 0);
  EXPECT_EQ(*a.Allocate(), 1);
  absl::StatusOr<int32_t> none = a.Allocate();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(none.status().message(), "KV cache: no free blocks (2 in use of 2)");
  EXPECT_TRUE(a.Free(1).ok());
  EXPECT_FALSE(a.Free(1).ok());  // already free
  EXPECT_FALSE(a.Free(5).ok());
  EXPECT_EQ(a.num_free(), 1);
  EXPECT_EQ(*a.Allocate(), 1);
}

TEST(PagedKvCacheTest, AppendGrowsTheTableAndWritesTheSlots) {
  PagedKvCache c = *PagedKvCache::Create(
      {.num_layers = 2, .num_blocks = 8, .block_size = 4, .kv_heads = 2, .head_dim = 3});
  ASSERT_TRUE(c.AddSequence(7).ok());
  EXPECT_FALSE(c.AddSequence(7).ok());
  ASSERT_TRUE(c.Append(7, 0, Rows(5, 6, 0), Rows(5, 6, 100)).ok());
  EXPECT_EQ((*c.BlockTable(7))->size(), 2u);
  ASSERT_TRUE(c.Append(7, 0, Rows(3, 6, 5), Rows(3, 6, 105)).ok());
  EXPECT_EQ((*c.BlockTable(7))->size(), 2u);  // 8 tokens fill two blocks exactly
  ASSERT_TRUE(c.Append(7, 0, Rows(1, 6, 8), Rows(1, 6, 108)).ok());
  EXPECT_EQ((*c.BlockTable(7))->size(), 3u);
  EXPECT_EQ(*c.Length(7, 0), 9);
  EXPECT_EQ(*c.Length(7, 1), 0);  // layers advance on their own
  // Token j sits at [block_table[j / 4], j % 4, head, lane]; its values are j (K), 100 + j (V).
  const std::vector<int32_t>& table = **c.BlockTable(7);
  for (int64_t j = 0; j < 9; ++j) {
    const int64_t slot = table[j / 4] * 4 + j % 4;
    for (int64_t e = 0; e < 6; ++e) {
      EXPECT_EQ(c.k(0).Get(slot * 6 + e), j);
      EXPECT_EQ(c.v(0).Get(slot * 6 + e), 100 + j);
    }
  }
  // Layer 1 reuses the table's blocks rather than taking more.
  ASSERT_TRUE(c.Append(7, 1, Rows(9, 6, 0), Rows(9, 6, 0)).ok());
  EXPECT_EQ(c.allocator().num_free(), 5);
}

TEST(PagedKvCacheTest, ExhaustionChangesNothingAndFreeRecovers) {
  PagedKvCache c =
      *PagedKvCache::Create({.num_blocks = 3, .block_size = 2, .kv_heads = 1, .head_dim = 2});
  ASSERT_TRUE(c.AddSequence(0).ok());
  ASSERT_TRUE(c.AddSequence(1).ok());
  ASSERT_TRUE(c.Append(0, 0, Rows(4, 2, 0), Rows(4, 2, 0)).ok());    // blocks 0, 1
  absl::Status full = c.Append(1, 0, Rows(3, 2, 0), Rows(3, 2, 0));  // needs 2, 1 free
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()),
              testing::StartsWith("KV cache: no free blocks (2 in use of 3)"));
  EXPECT_EQ(*c.Length(1, 0), 0);
  EXPECT_TRUE((*c.BlockTable(1))->empty());
  EXPECT_EQ(c.allocator().num_free(), 1);
  ASSERT_TRUE(c.Free(0).ok());
  EXPECT_FALSE(c.HasSequence(0));
  ASSERT_TRUE(c.Append(1, 0, Rows(3, 2, 0), Rows(3, 2, 0)).ok());
  EXPECT_EQ(*c.Length(1, 0), 3);
  EXPECT_EQ(c.allocator().num_free(), 1);
}

TEST(PagedKvCacheTest, ReserveTakesAStepsBlocksAllOrNothing) {
  PagedKvCache c =
      *PagedKvCache::Create({.num_blocks = 4, .block_size = 2, .kv_heads = 1, .head_dim = 2});
  ASSERT_TRUE(c.AddSequence(0).ok());
  EXPECT_EQ(c.BlocksNeeded(0, 5), 3);
  EXPECT_EQ(c.BlocksNeeded(7, 5), 3);  // not added yet: all of them
  ASSERT_TRUE(c.Reserve(0, 5).ok());
  EXPECT_EQ(c.allocator().num_free(), 1);
  EXPECT_EQ(c.BlocksNeeded(0, 6), 0);
  EXPECT_EQ(*c.Length(0, 0), 0);  // reserving writes nothing
  ASSERT_TRUE(c.AddSequence(1).ok());
  EXPECT_EQ(c.Reserve(1, 3).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.allocator().num_free(), 1);  // nothing taken
  EXPECT_EQ(c.Reserve(9, 1).code(), absl::StatusCode::kNotFound);
  // Appends within the reservation take no more blocks.
  ASSERT_TRUE(c.Append(0, 0, Rows(5, 2, 0), Rows(5, 2, 0)).ok());
  EXPECT_EQ(c.allocator().num_free(), 1);
}

TEST(PagedKvCacheTest, CommitAdvancesEveryLayerOverReservedSlotsOnly) {
  auto cache = *PagedKvCache::Create({.num_layers = 3, .num_blocks = 4, .block_size = 2,
                                      .kv_heads = 1, .head_dim = 2});
  ASSERT_TRUE(cache.AddSequence(9).ok());
  EXPECT_EQ(cache.Commit(9, 1).code(), absl::StatusCode::kFailedPrecondition);  // nothing reserved
  ASSERT_TRUE(cache.Reserve(9, 3).ok());  // two blocks: four slots
  ASSERT_TRUE(cache.Commit(9, 3).ok());
  for (int64_t l = 0; l < 3; ++l) EXPECT_EQ(*cache.Length(9, l), 3);
  EXPECT_EQ(cache.Commit(9, 2).code(), absl::StatusCode::kFailedPrecondition);  // 5 > 4 slots
  EXPECT_EQ(*cache.Length(9, 0), 3);
  EXPECT_EQ(cache.Commit(4, 1).code(), absl::StatusCode::kNotFound);
  // Layers that advanced unevenly (a host Append of one layer) cannot be committed together.
  ASSERT_TRUE(cache.Append(9, 0, *Tensor::FromF32({1, 2}, {1, 2}), *Tensor::FromF32({1, 2}, {3, 4}))
                  .ok());
  EXPECT_EQ(cache.Commit(9, 0).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PagedKvCacheTest, RefusesMismatchedDtypeAndDevice) {
  auto bf16_on_cpu = PagedKvCache::Create(
      {.num_blocks = 1, .kv_heads = 1, .head_dim = 2, .dtype = DType::kBF16});
  EXPECT_EQ(bf16_on_cpu.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bf16_on_cpu.status().message()), ::testing::HasSubstr("bf16"));
}

TEST(PagedKvCacheTest, RejectsBadArguments) {
  PagedKvCache c =
      *PagedKvCache::Create({.num_blocks = 2, .block_size = 2, .kv_heads = 1, .head_dim = 2});
  EXPECT_EQ(c.Append(3, 0, Rows(1, 2, 0), Rows(1, 2, 0)).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(c.AddSequence(3).ok());
  EXPECT_EQ(c.Append(3, 1, Rows(1, 2, 0), Rows(1, 2, 0)).code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(c.Append(3, 0, Rows(1, 3, 0), Rows(1, 3, 0)).message(),
              testing::HasSubstr("k f32[1,3]"));
  EXPECT_FALSE(c.Free(4).ok());
  EXPECT_FALSE(PagedKvCache::Create({.num_blocks = 0, .kv_heads = 1, .head_dim = 2}).ok());
}

}  // namespace
}  // namespace sy
