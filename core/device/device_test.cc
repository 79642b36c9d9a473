#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/device/buffer.h"
#include "core/device/cuda_runtime.h"
#include "core/device/exec_context.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

TEST(DeviceTest, ParsesAndPrints) {
  EXPECT_EQ(Device::Parse("cpu")->ToString(), "cpu");
  EXPECT_EQ(*Device::Parse("cuda"), Device::Cuda(0));
  EXPECT_EQ(Device::Parse("cuda:3")->ToString(), "cuda:3");
  EXPECT_THAT(std::string(Device::Parse("tpu").status().message()),
              HasSubstr("unknown device 'tpu'"));
  EXPECT_FALSE(Device::Parse("cuda:-1").ok());
}

TEST(DeviceTest, TotalMemoryOfTheHostIsMemTotal) {
  auto bytes = TotalMemoryBytes(Device::Cpu());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // The kernel's own count of physical pages, which /proc/meminfo's MemTotal also reports.
  const int64_t pages = sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
  EXPECT_EQ(*bytes, pages);
}

TEST(WorkspaceTest, AllocatesAlignedAndReusesAfterReset) {
  Workspace ws(Device::Cpu(), 1024);
  void* a = ws.Allocate(100, 64);
  void* b = ws.Allocate(100, 256);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 256, 0u);
  EXPECT_GE(static_cast<char*>(b) - static_cast<char*>(a), 100);
  void* big = ws.Allocate(10000, 64);  // larger than a chunk: gets its own
  ASSERT_NE(big, nullptr);
  std::memset(big, 1, 10000);
  ws.Reset();
  EXPECT_EQ(ws.Allocate(100, 64), a);
  EXPECT_EQ(ws.Allocate(8, 3), nullptr);  // alignment must be a power of two
}

TEST(ExecContextTest, CpuContextLendsItsWorkspace) {
  auto ctx = ExecContext::Create(Device::Cpu(), 2);
  ASSERT_TRUE(ctx.ok());
  const sy_exec_context* c = (*ctx)->BeginCall();
  EXPECT_EQ(c->num_threads, 2);
  EXPECT_EQ(c->stream, nullptr);
  void* p = c->workspace->allocate(c->workspace->self, 32, 32);
  EXPECT_NE(p, nullptr);
  EXPECT_TRUE((*ctx)->Synchronize().ok());
}

TEST(BufferTest, WrapBorrowsAndKeepsItsOwnerAlive) {
  auto storage = std::make_shared<std::vector<int>>(std::vector<int>{1, 2, 3});
  std::weak_ptr<std::vector<int>> watch = storage;
  std::shared_ptr<Buffer> buffer = Buffer::Wrap(storage->data(), 3 * sizeof(int), storage);
  storage.reset();
  EXPECT_FALSE(watch.expired());  // the buffer holds the owner
  EXPECT_EQ(static_cast<int*>(buffer->data())[2], 3);
  EXPECT_EQ(buffer->size(), 3 * sizeof(int));
  EXPECT_EQ(buffer->kind(), MemoryKind::kHost);
  buffer.reset();  // must not free the vector's memory itself (ASan/double free would show)
  EXPECT_TRUE(watch.expired());
}

TEST(CudaTest, DeviceBuffersRoundTrip) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto device = Buffer::Allocate(MemoryKind::kDevice, 1024, Device::Cuda(0));
  ASSERT_TRUE(device.ok()) << device.status();
  auto pinned = Buffer::Allocate(MemoryKind::kPinnedHost, 1024);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  std::memset((*pinned)->data(), 0x5a, 1024);
  ASSERT_TRUE(
      cuda::Copy((*device)->data(), (*pinned)->data(), 1024, cuda::CopyKind::kHostToDevice, 0)
          .ok());
  std::vector<unsigned char> back(1024, 0);
  ASSERT_TRUE(
      cuda::Copy(back.data(), (*device)->data(), 1024, cuda::CopyKind::kDeviceToHost, 0).ok());
  EXPECT_EQ(back[0], 0x5a);
  EXPECT_EQ(back[1023], 0x5a);
  auto ctx = ExecContext::Create(Device::Cuda(0), 1);
  ASSERT_TRUE(ctx.ok());
  EXPECT_NE((*ctx)->stream(), nullptr);
  EXPECT_TRUE((*ctx)->Synchronize().ok());
}

// An allocation the GPU cannot hold says how much it asked for and how much was free.
TEST(CudaTest, OutOfMemoryNamesTheSizeAndWhatIsFree) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto huge = Buffer::Allocate(MemoryKind::kDevice, size_t{1} << 50, Device::Cuda(0));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(huge.status().message()),
              ::testing::ContainsRegex("cudaMalloc of 1048576.00 GiB on cuda:0: out of memory "
                                       "\\([0-9.]+ GiB free of [0-9.]+ GiB\\)"));
  // The failure leaves nothing sticky behind: the next allocation works.
  EXPECT_TRUE(Buffer::Allocate(MemoryKind::kDevice, 1024, Device::Cuda(0)).ok());
}

TEST(CudaTest, WithoutADeviceAllocationFailsCleanly) {
  if (cuda::DeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  auto device = Buffer::Allocate(MemoryKind::kDevice, 1024, Device::Cuda(0));
  EXPECT_FALSE(device.ok());
  EXPECT_FALSE(Buffer::Allocate(MemoryKind::kDevice, 16, Device::Cpu()).ok());
}

}  // namespace
}  // namespace sy
