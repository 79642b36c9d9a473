// Bootstrap with every rank in this process, each on its own thread and its own connection to
// rank 0's server over loopback TCP. Killed processes are covered by tests/e2e/launch_test.cc.
#include "core/distributed/bootstrap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <thread>

#include "core/distributed/free_port.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

RankInfo Rank(int rank, int world_size, int port) {
  RankInfo info;
  info.rank = rank;
  info.world_size = world_size;
  info.local_rank = rank;
  info.local_world_size = world_size;
  info.master_addr = "127.0.0.1";
  info.master_port = port;
  return info;
}

// Joins `world_size` ranks on threads and runs body(rank, bootstrap) on each.
void RunGroup(int world_size, absl::Duration timeout,
              const std::function<void(int, Bootstrap&)>& body) {
  const int port = *FreeTcpPort();
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      auto bootstrap = Bootstrap::Join(Rank(r, world_size, port), timeout);
      ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
      body(r, **bootstrap);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(BootstrapTest, AWorldOfOneNeedsNoNetwork) {
  RankInfo info;
  auto bootstrap = Bootstrap::Join(info, absl::Seconds(1));
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
  Bootstrap& b = **bootstrap;
  EXPECT_FALSE(b.info().group_id.empty());
  ASSERT_EQ(b.members().size(), 1u);
  const int value = 42;
  int out = 0;
  ASSERT_TRUE(b.AllGather(&value, sizeof(value), &out).ok());
  EXPECT_EQ(out, 42);
  EXPECT_EQ(*b.Broadcast("x"), "x");
  EXPECT_TRUE(b.Barrier().ok());
  const sy_comm_group* group = b.comm_group();
  EXPECT_EQ(group->world_size, 1);
  EXPECT_EQ(group->timeout_ms, 1000);
  EXPECT_STREQ(group->group_id, b.info().group_id.c_str());
}

TEST(BootstrapTest, RanksFormAGroupAndRunCollectives) {
  constexpr int kWorld = 3;
  std::vector<std::string> group_ids(kWorld);
  RunGroup(kWorld, absl::Seconds(20), [&](int rank, Bootstrap& b) {
    group_ids[rank] = b.info().group_id;
    ASSERT_EQ(b.members().size(), static_cast<size_t>(kWorld));
    for (int r = 0; r < kWorld; ++r) EXPECT_EQ(b.members()[r].rank, r);
    EXPECT_EQ(b.members()[rank].pid, getpid());

    const int64_t mine[2] = {rank, 10 * rank};
    int64_t all[2 * kWorld] = {};
    ASSERT_TRUE(b.AllGather(mine, sizeof(mine), all).ok());
    for (int r = 0; r < kWorld; ++r) {
      EXPECT_EQ(all[2 * r], r);
      EXPECT_EQ(all[2 * r + 1], 10 * r);
    }
    auto text = b.Broadcast(rank == 0 ? "placement v1" : "ignored");
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, "placement v1");
    ASSERT_TRUE(b.Barrier().ok());

    // The C view a comm component gets: its all_gather runs the same collective.
    const sy_comm_group* group = b.comm_group();
    EXPECT_EQ(group->rank, rank);
    EXPECT_EQ(group->world_size, kWorld);
    const int32_t pid = 1000 + rank;
    int32_t pids[kWorld] = {};
    sy_error* error = group->all_gather(group->self, &pid, sizeof(pid), pids);
    ASSERT_EQ(error, nullptr);
    for (int r = 0; r < kWorld; ++r) EXPECT_EQ(pids[r], 1000 + r);
  });
  EXPECT_FALSE(group_ids[0].empty());
  EXPECT_EQ(group_ids[1], group_ids[0]);
  EXPECT_EQ(group_ids[2], group_ids[0]);
}

TEST(BootstrapTest, ARankThatLeftFailsTheOthersCollectivesNamingIt) {
  RunGroup(3, absl::Seconds(20), [&](int rank, Bootstrap& b) {
    ASSERT_TRUE(b.Barrier().ok());
    if (rank == 2) return;  // leaves the group when its Bootstrap is destroyed
    const absl::Status status = b.Barrier();
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()), HasSubstr("rank 2 (pid"));
  });
}

TEST(BootstrapTest, RanksCallingDifferentCollectivesFailClearly) {
  RunGroup(2, absl::Seconds(20), [&](int rank, Bootstrap& b) {
    const absl::Status status = rank == 0 ? b.Barrier() : b.Broadcast("").status();
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()), HasSubstr("same collectives in the same order"));
  });
}

TEST(BootstrapTest, ACollectiveTimesOutNamingTheMissingRank) {
  RunGroup(2, absl::Seconds(1), [&](int rank, Bootstrap& b) {
    if (rank == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      return;
    }
    const absl::Time start = absl::Now();
    const absl::Status status = b.Barrier();
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("timed out after 1000 ms waiting for rank 1"));
  });
}

TEST(BootstrapTest, AnUnreachableRankZeroFailsWithinTheTimeoutNamingTheAddress) {
  const int port = *FreeTcpPort();
  const absl::Time start = absl::Now();
  auto bootstrap = Bootstrap::Join(Rank(1, 2, port), absl::Seconds(1));
  ASSERT_FALSE(bootstrap.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_THAT(std::string(bootstrap.status().message()),
              HasSubstr(absl::StrCat("MASTER_ADDR:MASTER_PORT = 127.0.0.1:", port)));
  EXPECT_THAT(std::string(bootstrap.status().message()), HasSubstr("within 1 s"));
}

TEST(BootstrapTest, AnUnresolvableAddressFailsAtOnce) {
  RankInfo info = Rank(1, 2, 29500);
  info.master_addr = "no-such-host.invalid";
  const absl::Time start = absl::Now();
  auto bootstrap = Bootstrap::Join(info, absl::Seconds(30));
  ASSERT_FALSE(bootstrap.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_THAT(std::string(bootstrap.status().message()),
              HasSubstr("cannot resolve MASTER_ADDR 'no-such-host.invalid'"));
}

TEST(BootstrapTest, TwoProcessesWithTheSameRankAreRefused) {
  const int port = *FreeTcpPort();
  std::thread root([&] { (void)Bootstrap::Join(Rank(0, 3, port), absl::Seconds(3)); });
  auto first = std::thread([&] { (void)Bootstrap::Join(Rank(1, 3, port), absl::Seconds(3)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = Bootstrap::Join(Rank(1, 3, port), absl::Seconds(3));
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("joined twice"));
  root.join();
  first.join();
}

}  // namespace
}  // namespace sy
