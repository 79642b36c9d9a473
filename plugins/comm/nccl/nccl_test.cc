// comm.nccl with ranks as threads of this process, one GPU each: a world of one on any GPU,
// two ranks when two GPUs exist; host and device tensors. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <thread>
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

class CudaNcclCommTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (plugins::comm_cuda::DeviceCount() < GetParam())
      GTEST_SKIP() << "needs " << GetParam() << " CUDA devices";
    registry_.Discover(DefaultPluginSearchPath());  // the build tree, or a bundle
  }
  ComponentRegistry registry_;
};

TEST_P(CudaNcclCommTest, PatternOnHostAndDeviceAndAllReduce) {
  const int world = GetParam();
  testing_support::ThreadCommGroup group(world);
  std::vector<std::thread> ranks;
  for (int me = 0; me < world; ++me) {
    ranks.emplace_back([&, me] {
      cudaSetDevice(me);
      auto component = Component::Create(*registry_.Find("comm.nccl"), {});
      ASSERT_TRUE(component.ok()) << component.status();
      auto ctx = *ExecContext::Create(Device::Cuda(me), 1);
      const sy_comm_group member = group.Member(me, 20000);
      ASSERT_EQ(ErrorText(CommVtable(**component)
                              ->connect((*component)->instance(), ctx->BeginCall(), &member)),
                "");

      testing_support::PatternExchange x(me, world, 129, 3);
      std::vector<float> recv(x.expected.size(), -1.f);
      ASSERT_EQ(testing_support::RunPattern(**component, ctx->BeginCall(), x, x.send.data(),
                                            recv.data(), {SY_DEVICE_CPU, 0}),
                "");
      EXPECT_EQ(recv, x.expected) << "host tensors, rank " << me;

      float *send_d = nullptr, *recv_d = nullptr;
      ASSERT_EQ(cudaMalloc(&send_d, x.send.size() * sizeof(float)), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&recv_d, x.expected.size() * sizeof(float)), cudaSuccess);
      ASSERT_EQ(
          cudaMemcpy(send_d, x.send.data(), x.send.size() * sizeof(float), cudaMemcpyHostToDevice),
          cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // it may land after cudaMemcpy returns
      ASSERT_EQ(testing_support::RunPattern(**component, ctx->BeginCall(), x, send_d, recv_d,
                                            {SY_DEVICE_CUDA, me}),
                "");
      ASSERT_TRUE(ctx->Synchronize().ok());
      std::vector<float> got(x.expected.size());
      cudaMemcpy(got.data(), recv_d, got.size() * sizeof(float), cudaMemcpyDeviceToHost);
      EXPECT_EQ(got, x.expected) << "device tensors, rank " << me;
      cudaFree(send_d);
      cudaFree(recv_d);

      std::vector<float> data(1000, static_cast<float>(me + 1));
      sy_tensor t = testing_support::F32Rows(data.data(), 1000, 1, {SY_DEVICE_CPU, 0});
      ASSERT_EQ(ErrorText(CommVtable(**component)
                              ->all_reduce_sum((*component)->instance(), ctx->BeginCall(), &t)),
                "");
      EXPECT_EQ(data[999], static_cast<float>(world * (world + 1) / 2));
    });
  }
  for (auto& r : ranks) r.join();
}

INSTANTIATE_TEST_SUITE_P(Ranks, CudaNcclCommTest, ::testing::Values(1, 2));

}  // namespace
}  // namespace sy
