// One loaded plugin library: the shared object, its validated sy_plugin description and the
// config schemas of its components.
//
// Every host object created by a component of this library holds a shared_ptr to it, so the
// library is never unloaded under a live object (its code and vtables stay mapped).
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_PLUGIN_LIBRARY_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_PLUGIN_LIBRARY_H_

#include <capnp/schema-loader.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/config/config_schema.h"
#include "switchyard/plugin_abi.h"

namespace boost::dll {
class shared_library;
}

namespace sy {

absl::string_view KindName(sy_component_kind kind);
// "router" -> SY_KIND_ROUTER; SY_KIND_INVALID for an unknown name.
sy_component_kind KindFromName(absl::string_view name);

// A component as its library describes it, with its config schema loaded. Owned by its
// PluginLibrary; whoever keeps one must keep the library alive too.
struct ComponentInfo {
  sy_component_kind kind;
  std::string name;       // "softmax_topk"
  std::string full_name;  // "router.softmax_topk"
  std::string description;
  const sy_component_desc* desc;
  ConfigSchema config;
};

class PluginLibrary {
 public:
  // Loads `path` and validates what it exports. Every failure names the file: not a shared
  // library, no sy_plugin_init, init returned NULL, another ABI major, a newer ABI minor,
  // malformed component descriptors or config schemas.
  static absl::StatusOr<std::shared_ptr<PluginLibrary>> Open(const std::string& path);
  ~PluginLibrary();

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  uint32_t abi_minor() const { return abi_minor_; }
  const std::vector<ComponentInfo>& components() const { return components_; }

 private:
  PluginLibrary() = default;
  absl::Status LoadComponents(const sy_plugin& plugin);

  std::string path_;
  std::string name_;
  std::string version_;
  uint32_t abi_minor_ = 0;
  std::unique_ptr<boost::dll::shared_library> library_;
  // Declared after library_ and destroyed first: schemas reference nothing in the library,
  // but components_ holds descriptors that point into it.
  std::unique_ptr<capnp::SchemaLoader> schema_loader_;
  std::vector<ComponentInfo> components_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_PLUGIN_LIBRARY_H_
