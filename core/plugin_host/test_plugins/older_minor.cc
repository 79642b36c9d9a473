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
};

// The SDK's vtables cut back to their first minor's size.
const sy_experts_vtable* ExpertsAsOfV1() {
  static sy_experts_vtable v = [] {
    sy_experts_vtable cut = *internal::ExpertsVtable();
    cut.struct_size = offsetof(sy_experts_vtable, supports_activation);
    return cut;
  }();
  return &v;
}

const sy_comm_vtable* CommAsOfV3() {
  static sy_comm_vtable v = [] {
    sy_comm_vtable cut = *internal::CommVtable();
    cut.struct_size = offsetof(sy_comm_vtable, peer_memory);
    return cut;
  }();
  return &v;
}

}  // namespace
}  // namespace sy::test

extern "C" SY_EXPORT const sy_plugin* sy_plugin_init(const sy_host* host) {
  const sy_plugin* plugin = ::sy::internal::InitPlugin(host, "test.older_minor", "0.0.1", [] {
    return std::vector<sy_component_desc>{
        ::sy::internal::Describe<::sy::test::OlderExperts, ::sy::Experts>(
            SY_KIND_EXPERTS, "older", "experts as ABI 1.1 laid them out",
            ::sy::test::ExpertsAsOfV1()),
        ::sy::internal::Describe<::sy::test::OlderComm, ::sy::Comm>(
            SY_KIND_COMM, "older", "comm as ABI 1.3 laid it out", ::sy::test::CommAsOfV3())};
  });
  if (plugin == nullptr) return nullptr;
  static sy_plugin older = *plugin;
  older.abi_minor = 3;
  return &older;
}
