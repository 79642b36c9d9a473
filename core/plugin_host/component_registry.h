// All components of all loaded plugin libraries, by "kind.name".
//
// Discovery loads every *.so in the search path. A library that fails to load is recorded in
// load_errors() and skipped; the others still load. A component whose name is already taken
// is skipped with an error naming both libraries.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_REGISTRY_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/plugin_host/plugin_library.h"

namespace sy {

// A component together with the library that keeps it valid.
struct RegisteredComponent {
  std::shared_ptr<PluginLibrary> library;
  const ComponentInfo* info;
  int32_t score;  // from the component's score() at load time; 0 = cannot run here
};

struct PluginLoadError {
  std::string path;
  std::string message;
};

// Where plugins are looked for: the plugin folder installed beside the running executable
// (<exe>/../lib/switchyard/plugins), then $SWITCHYARD_PLUGIN_PATH (colon-separated). The
// first library to provide a name wins, so a stray library can never shadow a built-in one.
std::vector<std::string> DefaultPluginSearchPath();

class ComponentRegistry {
 public:
  // Loads every *.so file in each folder (non-recursive, in name order). Folders that do not
  // exist are skipped.
  void Discover(const std::vector<std::string>& search_path);
  // Loads one library file. On failure records it in load_errors() and returns the error.
  absl::Status LoadLibrary(const std::string& path);

  // "router.softmax_topk", or "router.auto" for the highest-scoring router that can run here.
  absl::StatusOr<RegisteredComponent> Find(absl::string_view full_name) const;
  // All components, ordered by kind then name.
  std::vector<RegisteredComponent> List() const;
  const std::vector<std::shared_ptr<PluginLibrary>>& libraries() const { return libraries_; }
  const std::vector<PluginLoadError>& load_errors() const { return load_errors_; }

 private:
  std::vector<std::shared_ptr<PluginLibrary>> libraries_;
  std::map<std::string, RegisteredComponent> components_;
  std::vector<PluginLoadError> load_errors_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_REGISTRY_H_
