// comm.pcie, loaded from its .so, with every rank a thread of this process joined through a
// real Bootstrap: all-to-all-v with uneven counts, chunking, all-reduce, mismatched counts.
// Separate processes and a killed rank: tests/e2e/launch_test.cc.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/strings/str_format.h"

#include "core/distributed/bootstrap.h"
#include "core/distributed/free_port.h"
#include "core/plugin_host/comm.h"
#include "tests/support/plugin_test_fixture.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class PcieCommTest : public plugin_test::PluginLibraryTest<Comm> {
 protected:
  PcieCommTest() : PluginLibraryTest("sy_comm_pcie", "comm.pcie") {}

  // Runs body(rank, comm, ctx) on `world` threads, each a connected rank.
  void RunRanks(int world, ConfigTable config,
                const std::function<void(int, Comm&, ExecContext&)>& body) {
    const int port = *FreeTcpPort();
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        RankInfo info;
        info.rank = r;
        info.world_size = world;
        info.local_world_size = world;
        info.local_rank = r;
        info.master_addr = "127.0.0.1";
        info.master_port = port;
        auto bootstrap = Bootstrap::Join(info, absl::Seconds(5));
        ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
        auto comm = Create(config);
        ASSERT_TRUE(comm.ok()) << comm.status();
        auto ctx = *ExecContext::Create(Device::Cpu(), 1);
        const absl::Status connected = comm->Connect(*ctx, *(*bootstrap)->comm_group());
        ASSERT_TRUE(connected.ok()) << connected;
        body(r, *comm, *ctx);
        ASSERT_TRUE((*bootstrap)->Barrier().ok());
      });
    }
    for (auto& t : threads) t.join();
  }
};

// Rank s sends (s + d + 1) rows to rank d, each row filled with 1000 s + 10 d + row index.
float Value(int from, int to, int row) { return 1000.0f * from + 10.0f * to + row; }
int64_t Rows(int from, int to) { return from + to + 1; }

TEST_F(PcieCommTest, AllToAllVMovesEveryRankRowsToItsPeers) {
  constexpr int kWorld = 3, kWidth = 5;
  // Slots of 4 KiB and rows of 20 bytes: the larger messages move in several chunks.
  RunRanks(
      kWorld, {{"chunk_kb", ConfigValue{int64_t{4}}}}, [&](int me, Comm& comm, ExecContext& ctx) {
        constexpr int kScale = 100;  // rows multiplied so that messages span chunks
        std::vector<int64_t> send_counts(kWorld), recv_counts(kWorld);
        int64_t send_rows = 0, recv_rows = 0;
        for (int p = 0; p < kWorld; ++p) {
          send_rows += send_counts[p] = kScale * Rows(me, p);
          recv_rows += recv_counts[p] = kScale * Rows(p, me);
        }
        Tensor send = *Tensor::Empty({send_rows, kWidth}, DType::kF32);
        Tensor recv = *Tensor::Zeros({recv_rows, kWidth}, DType::kF32);
        float* s = send.data<float>();
        for (int p = 0; p < kWorld; ++p) {
          for (int64_t r = 0; r < send_counts[p]; ++r, s += kWidth) {
            std::fill(s, s + kWidth, Value(me, p, static_cast<int>(r)));
          }
        }
        const absl::Status status = comm.AllToAll(ctx, send, send_counts, recv, recv_counts);
        ASSERT_TRUE(status.ok()) << status;
        const float* got = recv.data<float>();
        for (int p = 0; p < kWorld; ++p) {
          for (int64_t r = 0; r < recv_counts[p]; ++r, got += kWidth) {
            ASSERT_EQ(got[0], Value(p, me, static_cast<int>(r))) << "from " << p << " row " << r;
            ASSERT_EQ(got[kWidth - 1], got[0]);
          }
        }
      });
}

TEST_F(PcieCommTest, DisplacementsAndEmptyMessages) {
  RunRanks(2, {}, [&](int me, Comm& comm, ExecContext& ctx) {
    // Rank 0 sends its row 2 to rank 1 and nothing to itself; rank 1 sends nothing.
    const Tensor send = *Tensor::FromF32({3, 1}, {10.0f * me, 10.0f * me + 1, 10.0f * me + 2});
    Tensor recv = *Tensor::FromF32({2, 1}, {-1, -1});
    const std::vector<int64_t> send_counts =
        me == 0 ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0, 0};
    const std::vector<int64_t> recv_counts =
        me == 0 ? std::vector<int64_t>{0, 0} : std::vector<int64_t>{1, 0};
    const std::vector<int64_t> send_displs = {0, 2}, recv_displs = {1, 0};
    ASSERT_TRUE(
        comm.AllToAll(ctx, send, send_counts, recv, recv_counts, send_displs, recv_displs).ok());
    EXPECT_EQ(recv.Get(0), -1);
    EXPECT_EQ(recv.Get(1), me == 1 ? 2 : -1);
  });
}

TEST_F(PcieCommTest, AllReduceSumGivesEveryRankTheSameBits) {
  constexpr int kWorld = 4;
  std::vector<std::vector<float>> results(kWorld);
  RunRanks(kWorld, {}, [&](int me, Comm& comm, ExecContext& ctx) {
    std::vector<float> values(3000);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * (me + 1) + 1e-7f * i;
    Tensor data = *Tensor::FromF32({3000}, values);
    ASSERT_TRUE(comm.AllReduceSum(ctx, data).ok());
    results[me].assign(data.data<float>(), data.data<float>() + 3000);
    Tensor counts = *Tensor::Zeros({2}, DType::kI64);
    counts.data<int64_t>()[0] = me;
    counts.data<int64_t>()[1] = int64_t{1} << 40;
    ASSERT_TRUE(comm.AllReduceSum(ctx, counts).ok());
    EXPECT_EQ(counts.data<int64_t>()[0], 0 + 1 + 2 + 3);
    EXPECT_EQ(counts.data<int64_t>()[1], int64_t{4} << 40);
  });
  EXPECT_NEAR(results[0][0], 0.1f + 0.2f + 0.3f + 0.4f, 1e-6);
  for (int r = 1; r < kWorld; ++r) EXPECT_EQ(results[r], results[0]);
}

TEST_F(PcieCommTest, CountsThatDisagreeBetweenRanksAreNamed) {
  RunRanks(2, {}, [&](int me, Comm& comm, ExecContext& ctx) {
    const Tensor send = *Tensor::Zeros({4, 2}, DType::kF32);
    Tensor recv = *Tensor::Zeros({4, 2}, DType::kF32);
    // Rank 0 sends 2 rows to rank 1, which expects 3.
    const std::vector<int64_t> send_counts =
        me == 0 ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{3, 1};
    const std::vector<int64_t> recv_counts =
        me == 0 ? std::vector<int64_t>{1, 3} : std::vector<int64_t>{3, 1};
    const absl::Status status = comm.AllToAll(ctx, send, send_counts, recv, recv_counts);
    if (me == 1) {
      EXPECT_THAT(std::string(status.message()), HasSubstr("sends 16 bytes, this rank expects 24"));
      EXPECT_THAT(std::string(comm.AllReduceSum(ctx, recv).message()), HasSubstr("unusable"));
    }
  });
}

TEST_F(PcieCommTest, LeavesNothingInDevShm) {
  RunRanks(2, {}, [&](int, Comm&, ExecContext&) {});
  DIR* dir = opendir("/dev/shm");
  ASSERT_NE(dir, nullptr);
  const std::string mine = "-" + std::to_string(getpid());
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    EXPECT_FALSE(name.rfind("sy-", 0) == 0 && name.find("-pcie-r") != std::string::npos &&
                 name.find(absl::StrFormat("%x-", getpid())) != std::string::npos)
        << name;
  }
  closedir(dir);
}

}  // namespace
}  // namespace sy
