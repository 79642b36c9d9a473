// The host's view of a comm component (comm.h) where it depends on the plugin's ABI minor: a
// backend built before peer_memory (1.5) has none, and the host never reads past its vtable.
#include "core/plugin_host/comm.h"

#include <gtest/gtest.h>

#include "core/plugin_host/component_registry.h"
#include "tests/support/thread_comm_group.h"

namespace sy {
namespace {

TEST(CommHostTest, ABackendOfAnOlderMinorHasNoPeerMemory) {
  ComponentRegistry registry;
  registry.Discover({SY_TEST_BINARY_DIR "/test_plugins_older_minor"});
  auto registered = registry.Find("comm.older");
  ASSERT_TRUE(registered.ok()) << registered.status();
  auto component = Component::Create(*registered, {});
  ASSERT_TRUE(component.ok()) << component.status();
  auto comm = Comm::From(*component);
  ASSERT_TRUE(comm.ok()) << comm.status();
  auto ctx = ExecContext::Create(Device::Cpu(), 1);
  ASSERT_TRUE(ctx.ok());
  testing_support::ThreadCommGroup group(1);
  const sy_comm_group member = group.Member(0, 1000);
  ASSERT_TRUE(comm->Connect(**ctx, member).ok());
  const auto memory = comm->PeerMemory(**ctx);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->bytes, 0u);
  EXPECT_TRUE(memory->peers.empty());
}

}  // namespace
}  // namespace sy
