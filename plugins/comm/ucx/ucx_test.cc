// comm.ucx between ranks that are threads of this process, each with its own UCP worker,
// joined by an in-process all-gather: uneven and zero counts, displacements, all-reduce, a
// peer that goes away (the others fail with SY_UNAVAILABLE naming it, within the timeout).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/component_registry.h"
#include "core/plugin_host/host_api.h"
#include "tests/support/thread_comm_group.h"

namespace sy {
namespace {

sy_tensor Rows(std::vector<float>& data, int64_t rows, int64_t cols) {
  sy_tensor t{};
  t.data = data.data();
  t.dtype = SY_DTYPE_F32;
  t.device = {SY_DEVICE_CPU, 0};
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  t.strides[0] = cols;
  t.strides[1] = 1;
  return t;
}

class UcxCommTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        registry_.LoadLibrary(SY_TEST_BINARY_DIR "/lib/switchyard/plugins/sy_comm_ucx.so").ok());
  }

  // One rank: a connected comm.ucx instance with its own context.
  struct Rank {
    std::shared_ptr<Component> component;
    std::unique_ptr<ExecContext> ctx;
    const sy_comm_vtable* vtable() const {
      return static_cast<const sy_comm_vtable*>(component->vtable());
    }
    // The call's error message, "" on success.
    std::string Check(sy_error* error) {
      if (error == nullptr) return "";
      const sy_host* host = HostApi();
      std::string message =
          std::to_string(host->error_code(error)) + ": " + host->error_message(error);
      host->error_free(error);
      return message;
    }
  };

  // Runs body(rank) on `world` threads, each with a connected rank.
  void RunRanks(int world, int64_t timeout_ms, const std::function<void(int, Rank&)>& body) {
    testing_support::ThreadCommGroup group(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        Rank rank;
        auto component = Component::Create(*registry_.Find("comm.ucx"), {});
        ASSERT_TRUE(component.ok()) << component.status();
        rank.component = *component;
        rank.ctx = *ExecContext::Create(Device::Cpu(), 1);
        const sy_comm_group member = group.Member(r, timeout_ms);
        ASSERT_EQ(rank.Check(rank.vtable()->connect(rank.component->instance(),
                                                    rank.ctx->BeginCall(), &member)),
                  "");
        body(r, rank);
      });
    }
    for (auto& t : threads) t.join();
  }

  ComponentRegistry registry_;
};

// Rank r sends (r + p) % 3 rows to rank p (zero counts included); row values name sender,
// receiver and index, so every misplaced row shows.
TEST_F(UcxCommTest, AllToAllUnevenAndZeroCounts) {
  constexpr int kWorld = 3, kCols = 5;
  RunRanks(kWorld, 20000, [&](int me, Rank& rank) {
    std::vector<int64_t> send_counts(kWorld), recv_counts(kWorld);
    for (int p = 0; p < kWorld; ++p) {
      send_counts[p] = (me + p) % 3;
      recv_counts[p] = (p + me) % 3;
    }
    const int64_t send_rows = std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0});
    const int64_t recv_rows = std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
    std::vector<float> send(send_rows * kCols), recv(recv_rows * kCols, -1.f);
    int64_t row = 0;
    for (int p = 0; p < kWorld; ++p)
      for (int64_t i = 0; i < send_counts[p]; ++i, ++row)
        for (int c = 0; c < kCols; ++c) send[row * kCols + c] = me * 1000 + p * 100 + i * 10 + c;
    sy_tensor s = Rows(send, send_rows, kCols), r = Rows(recv, recv_rows, kCols);
    const sy_comm_all_to_all_args args{sizeof(args),       &s,     send_counts.data(), nullptr, &r,
                                       recv_counts.data(), nullptr};
    ASSERT_EQ(rank.Check(rank.vtable()->all_to_all(rank.component->instance(),
                                                   rank.ctx->BeginCall(), &args)),
              "");
    row = 0;
    for (int p = 0; p < kWorld; ++p)
      for (int64_t i = 0; i < recv_counts[p]; ++i, ++row)
        for (int c = 0; c < kCols; ++c)
          ASSERT_EQ(recv[row * kCols + c], p * 1000 + me * 100 + i * 10 + c) << "rank " << me;
  });
}

// Displacements place blocks out of rank order; rows outside every block keep their values.
TEST_F(UcxCommTest, AllToAllWithDisplacements) {
  constexpr int kWorld = 2;
  RunRanks(kWorld, 20000, [&](int me, Rank& rank) {
    std::vector<float> send = {float(me * 10), float(me * 10 + 1), float(me * 10 + 2)};
    std::vector<float> recv(6, -1.f);
    const std::vector<int64_t> send_counts = {1, 2}, send_displs = {2, 0};
    const std::vector<int64_t> recv_counts = {me == 0 ? 1 : 2, me == 0 ? 1 : 2};
    const std::vector<int64_t> recv_displs = {4, 0};
    sy_tensor s = Rows(send, 3, 1), r = Rows(recv, 6, 1);
    const sy_comm_all_to_all_args args{sizeof(args),       &s, send_counts.data(),
                                       send_displs.data(), &r, recv_counts.data(),
                                       recv_displs.data()};
    ASSERT_EQ(rank.Check(rank.vtable()->all_to_all(rank.component->instance(),
                                                   rank.ctx->BeginCall(), &args)),
              "");
    if (me == 0) {  // from 0: its row 2; from 1: its row 2
      EXPECT_EQ(recv, (std::vector<float>{12, -1, -1, -1, 2, -1}));
    } else {  // from 0: rows 0, 1; from 1: rows 0, 1
      EXPECT_EQ(recv, (std::vector<float>{10, 11, -1, -1, 0, 1}));
    }
  });
}

TEST_F(UcxCommTest, AllReduceSumsInRankOrderOnEveryRank) {
  constexpr int kWorld = 4;
  RunRanks(kWorld, 20000, [&](int me, Rank& rank) {
    std::vector<float> data(1000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = 0.1f * (me + 1) + i;
    sy_tensor t = Rows(data, 1000, 1);
    ASSERT_EQ(rank.Check(rank.vtable()->all_reduce_sum(rank.component->instance(),
                                                       rank.ctx->BeginCall(), &t)),
              "");
    for (size_t i = 0; i < data.size(); ++i) {
      float expected = 0;
      for (int p = 0; p < kWorld; ++p) expected += 0.1f * (p + 1) + i;
      ASSERT_EQ(data[i], expected) << i;
    }
  });
}

TEST_F(UcxCommTest, CountsThatDisagreeAreRefused) {
  RunRanks(2, 20000, [&](int me, Rank& rank) {
    std::vector<float> send(4, 1.f), recv(4, 0.f);
    // Rank 0 sends 2 rows to 1, which expects 1.
    const std::vector<int64_t> send_counts = {1, me == 0 ? 2 : 1}, recv_counts = {1, 1};
    sy_tensor s = Rows(send, 4, 1), r = Rows(recv, 4, 1);
    const sy_comm_all_to_all_args args{sizeof(args),       &s,     send_counts.data(), nullptr, &r,
                                       recv_counts.data(), nullptr};
    const std::string error = rank.Check(
        rank.vtable()->all_to_all(rank.component->instance(), rank.ctx->BeginCall(), &args));
    if (me == 1) {
      EXPECT_NE(error.find("disagree"), std::string::npos) << error;
    }
  });
}

// Rank 2 leaves after connecting; the others' all-to-all fails with SY_UNAVAILABLE naming it,
// well within the timeout when UCX notices the closed connection, at the deadline otherwise.
TEST_F(UcxCommTest, DeadPeerFailsTheOthersWithinTheTimeout) {
  constexpr int kWorld = 3;
  constexpr int64_t kTimeoutMs = 3000;
  RunRanks(kWorld, kTimeoutMs, [&](int me, Rank& rank) {
    if (me == 2) {
      rank.component.reset();  // destroys its worker and endpoints
      return;
    }
    std::vector<float> send(3, 1.f), recv(3, 0.f);
    const std::vector<int64_t> counts = {1, 1, 1};
    sy_tensor s = Rows(send, 3, 1), r = Rows(recv, 3, 1);
    const sy_comm_all_to_all_args args{sizeof(args),  &s,     counts.data(), nullptr, &r,
                                       counts.data(), nullptr};
    const auto start = std::chrono::steady_clock::now();
    const std::string error = rank.Check(
        rank.vtable()->all_to_all(rank.component->instance(), rank.ctx->BeginCall(), &args));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(error.rfind(std::to_string(SY_UNAVAILABLE) + ":", 0), 0u) << error;
    EXPECT_NE(error.find("rank 2"), std::string::npos) << error;
    EXPECT_LT(elapsed, std::chrono::milliseconds(kTimeoutMs + 2000));
    // The communicator stays failed.
    const std::string again = rank.Check(
        rank.vtable()->all_to_all(rank.component->instance(), rank.ctx->BeginCall(), &args));
    EXPECT_NE(again.find("earlier failure"), std::string::npos) << again;
  });
}

}  // namespace
}  // namespace sy
