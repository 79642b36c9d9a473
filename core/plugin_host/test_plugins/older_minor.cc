// experts.older and comm.older: components laid out as a plugin built against ABI 1.3 lays
// them out. The experts vtable ends where 1.1's did and the comm vtable where 1.3's did (no
// peer_memory); the plugin declares minor 3. A newer host must load both and read none of the
// later fields. They do nothing, and score 0 so nothing picks them by itself.
#include <cstddef>

#include "switchyard/plugin.hpp"
#include "test_plugins.capnp.h"

namespace sy::test {
namespace {

class OlderExperts : public Experts {
 public:
  using Config = EmptyConfig;
  explicit OlderExperts(Config::Reader) {}
  static int32_t Score(const sy_host*) { return 0; }
  bool Supports(const sy_qlayout&) const override { return true; }
  void Forward(const ExecContext&, const sy_experts_args&) override {}
};

class OlderComm : public Comm {
 public:
  using Config = EmptyConfig;
  explicit OlderComm(Config::Reader) {}
  static int32_t Score(const sy_host*) { return 0; }
  void Connect(const ExecContext&, const sy_comm_group&) override {}
  void AllToAll(const ExecContext&, const sy_comm_all_to_all_args&) override {}
  void AllReduceSum(const ExecContext&, sy_tensor&) override {}
  // Lies past the vtable's 1.3 size: a host that called it anyway would see memory here.
  size_t PeerMemory(const ExecContext&, void** peers) override {
    static char area[64];
    peers[0] = area;
    return sizeof(area);
  }
};

// The SDK's vtable `full` cut back to `size` bytes, its first minor's (one per vtable type).
template <typename Vtable>
const Vtable* CutBack(const Vtable* full, size_t size) {
  static Vtable cut = [&] {
    Vtable v = *full;
    v.struct_size = static_cast<uint32_t>(size);
    return v;
  }();
  return &cut;
}

}  // namespace
}  // namespace sy::test

extern "C" SY_EXPORT const sy_plugin* sy_plugin_init(const sy_host* host) {
  const sy_plugin* plugin = ::sy::internal::InitPlugin(host, "test.older_minor", "0.0.1", [] {
    return std::vector<sy_component_desc>{
        ::sy::internal::Describe<::sy::test::OlderExperts, ::sy::Experts>(
            SY_KIND_EXPERTS, "older", "experts as ABI 1.1 laid them out",
            ::sy::test::CutBack(::sy::internal::ExpertsVtable(),
                                offsetof(sy_experts_vtable, supports_activation))),
        ::sy::internal::Describe<::sy::test::OlderComm, ::sy::Comm>(
            SY_KIND_COMM, "older", "comm as ABI 1.3 laid it out",
            ::sy::test::CutBack(::sy::internal::CommVtable(),
                                offsetof(sy_comm_vtable, peer_memory)))};
  });
  if (plugin == nullptr) return nullptr;
  static sy_plugin older = *plugin;
  older.abi_minor = 3;
  return &older;
}
