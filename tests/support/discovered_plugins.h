// Test helpers shared by the conformance suites: the components found on the plugin search
// path (in-tree, or a vendor's with SWITCHYARD_PLUGIN_PATH=DIR), so that one suite covers
// every plugin of its kind.
#ifndef SWITCHYARD_TESTS_SUPPORT_DISCOVERED_PLUGINS_H_
#define SWITCHYARD_TESTS_SUPPORT_DISCOVERED_PLUGINS_H_

#include <algorithm>
#include <string>
#include <vector>

#include "core/plugin_host/component_registry.h"
#include "switchyard/plugin_abi.h"

namespace sy {

// Every library on DefaultPluginSearchPath(), discovered once on first use. The registry is
// never destroyed: components created from it may outlive static destruction order.
inline const ComponentRegistry& DiscoveredPlugins() {
  static const ComponentRegistry* registry = [] {
    auto* r = new ComponentRegistry();
    r->Discover(DefaultPluginSearchPath());
    return r;
  }();
  return *registry;
}

// The full names ("router.softmax_topk") of the discovered components of `kind`, in the
// registry's order.
inline std::vector<std::string> ComponentNames(sy_component_kind kind) {
  std::vector<std::string> names;
  for (const auto& c : DiscoveredPlugins().List()) {
    if (c.info->kind == kind) names.push_back(c.info->full_name);
  }
  return names;
}

// The discovered schedulers with a batch function (`schedule`), or with a placement function
// (`place`, ABI 1.3) when `placement`. A scheduler may have both.
inline std::vector<std::string> SchedulerNames(bool placement) {
  std::vector<std::string> names;
  for (const auto& c : DiscoveredPlugins().List()) {
    if (c.info->kind != SY_KIND_SCHEDULER) continue;
    const auto* v = static_cast<const sy_scheduler_vtable*>(c.info->desc->vtable);
    const bool has_place = v->struct_size >= sizeof(sy_scheduler_vtable) && v->place != nullptr;
    if (placement ? has_place : v->schedule != nullptr) names.push_back(c.info->full_name);
  }
  return names;
}

// A full name as a test name: gtest allows only [A-Za-z0-9_], so "router.softmax_topk" becomes
// "router_softmax_topk".
inline std::string ComponentTestName(std::string full_name) {
  std::replace(full_name.begin(), full_name.end(), '.', '_');
  return full_name;
}

}  // namespace sy

#endif  // SWITCHYARD_TESTS_SUPPORT_DISCOVERED_PLUGINS_H_
