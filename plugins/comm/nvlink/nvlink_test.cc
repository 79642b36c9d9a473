// comm.nvlink in one process (CUDA IPC needs one process per rank; the conformance suite runs
// 2 and 4 ranks through `switchyard launch`): a world of one exercises the kernel, its flags,
// the staging and registered areas, chunked all-reduce and host tensors. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/component_registry.h"
#include "plugins/comm/cuda_support/cuda_support.h"
#include "tests/support/comm_plugin_checks.h"
#include "tests/support/thread_comm_group.h"

namespace sy {
namespace {

using testing_support::CommVtable;
using testing_support::ErrorText;

class CudaNvlinkCommTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (plugins::comm_cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    registry_.Discover(DefaultPluginSearchPath());  // the build tree, or a bundle
    auto component = Component::Create(*registry_.Find("comm.nvlink"),
                                       {ConfigTable{{"registeredMib", ConfigValue{int64_t{8}}},
                                                    {"stagingMib", ConfigValue{int64_t{8}}},
                                                    {"allReduceKib", ConfigValue{int64_t{4}}},
                                                    {"peerMib", ConfigValue{int64_t{1}}}}});
    ASSERT_TRUE(component.ok()) << component.status();
    comm_ = *component;
    ctx_ = *ExecContext::Create(Device::Cuda(0), 1);
    const sy_comm_group member = group_.Member(0, 10000);
    ASSERT_EQ(ErrorText(CommVtable(*comm_)->connect(comm_->instance(), ctx_->BeginCall(), &member)),
              "");
  }

  testing_support::ThreadCommGroup group_{1};
  ComponentRegistry registry_;
  std::shared_ptr<Component> comm_;
  std::unique_ptr<ExecContext> ctx_;
};

// A peer that leaves before the bootstrap all-gather: connect fails naming it, and the
// half-connected instance (workspace allocated, no peer mapped) is destroyed cleanly. It once
// indexed the peers it had never mapped, and `bench a2a` crashed in its destructor.
TEST_F(CudaNvlinkCommTest, APeerLostDuringConnectFailsConnectAndDestroysCleanly) {
  auto component = Component::Create(*registry_.Find("comm.nvlink"),
                                     {ConfigTable{{"registeredMib", ConfigValue{int64_t{1}}},
                                                  {"stagingMib", ConfigValue{int64_t{1}}},
                                                  {"peerMib", ConfigValue{int64_t{1}}}}});
  ASSERT_TRUE(component.ok()) << component.status();
  sy_comm_group group = group_.Member(0, 10000);
  group.world_size = 2;
  group.local_world_size = 2;
  group.all_gather = [](void*, const void*, size_t, void*) {
    return HostApi()->error_create(SY_UNAVAILABLE, "rank 1 has left the group");
  };
  EXPECT_EQ(
      ErrorText(
          CommVtable(**component)->connect((*component)->instance(), ctx_->BeginCall(), &group)),
      std::to_string(SY_UNAVAILABLE) +
          ": comm.nvlink: bootstrap all-gather: rank 1 has left the group");
  component->reset();  // destroys the instance
}

// peer_memory hands out every rank's peer area (here the one rank's own), zeroed, and the
// size of peerMib.
TEST_F(CudaNvlinkCommTest, PeerMemoryIsTheZeroedPeerArea) {
  void* peers[1] = {nullptr};
  size_t bytes = 0;
  ASSERT_EQ(ErrorText(CommVtable(*comm_)->peer_memory(comm_->instance(), ctx_->BeginCall(), peers,
                                                      &bytes)),
            "");
  EXPECT_EQ(bytes, size_t{1} << 20);
  ASSERT_NE(peers[0], nullptr);
  std::vector<char> host(bytes, 1);
  ASSERT_EQ(cudaMemcpy(host.data(), peers[0], bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(std::count(host.begin(), host.end(), 0), static_cast<std::ptrdiff_t>(bytes));
}

TEST_F(CudaNvlinkCommTest, HostTensorsRoundTrip) {
  for (int round = 0; round < 3; ++round) {  // flags advance step by step
    testing_support::PatternExchange x(0, 1, 33, round);
    std::vector<float> recv(x.expected.size(), -1.f);
    ASSERT_EQ(testing_support::RunPattern(*comm_, ctx_->BeginCall(), x, x.send.data(), recv.data(),
                                          {SY_DEVICE_CPU, 0}),
              "");
    EXPECT_EQ(recv, x.expected);
  }
}

TEST_F(CudaNvlinkCommTest, DeviceTensorsInStagingAndInTheRegisteredBuffer) {
  testing_support::PatternExchange x(0, 1, 7168 / 2, 40);  // bf16-sized rows as f32 pairs
  const size_t send_bytes = x.send.size() * sizeof(float),
               recv_bytes = x.expected.size() * sizeof(float);
  float *send = nullptr, *recv = nullptr;
  ASSERT_EQ(cudaMalloc(&send, send_bytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&recv, recv_bytes), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(send, x.send.data(), send_bytes, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // the copy may land after cudaMemcpy returns
  void* registered = nullptr;
  ASSERT_EQ(ErrorText(CommVtable(*comm_)->registered_buffer(comm_->instance(), ctx_->BeginCall(),
                                                            recv_bytes, &registered)),
            "");
  ASSERT_NE(registered, nullptr);
  for (float* target : {recv, static_cast<float*>(registered)}) {
    ASSERT_EQ(cudaMemset(target, 0, recv_bytes), cudaSuccess);
    ASSERT_EQ(testing_support::RunPattern(*comm_, ctx_->BeginCall(), x, send, target,
                                          {SY_DEVICE_CUDA, 0}),
              "");
    ASSERT_TRUE(ctx_->Synchronize().ok());
    std::vector<float> got(x.expected.size());
    ASSERT_EQ(cudaMemcpy(got.data(), target, recv_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got, x.expected) << (target == recv ? "staged" : "registered");
  }
  void* too_big = nullptr;
  EXPECT_NE(ErrorText(CommVtable(*comm_)->registered_buffer(comm_->instance(), ctx_->BeginCall(),
                                                            size_t{9} << 20, &too_big))
                .find("registeredMib"),
            std::string::npos);
  cudaFree(send);
  cudaFree(recv);
}

TEST_F(CudaNvlinkCommTest, AllReduceInChunks) {
  std::vector<float> data(5000);  // 20000 bytes: five 4 KiB slots
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  sy_tensor t = testing_support::F32Rows(data.data(), 5000, 1, {SY_DEVICE_CPU, 0});
  ASSERT_EQ(ErrorText(CommVtable(*comm_)->all_reduce_sum(comm_->instance(), ctx_->BeginCall(), &t)),
            "");
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], static_cast<float>(i));
}

}  // namespace
}  // namespace sy
