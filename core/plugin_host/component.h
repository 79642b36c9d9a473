// Live component instances, made from a registered component and a config.
//
// A Component owns the plugin's instance (released with the descriptor's destroy()), its
// built config message, and a reference to the library, which therefore outlives it.
// Kind-specific wrappers (Router, ...) add the typed calls and check what the plugin returns.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/config/config_schema.h"
#include "core/config/config_value.h"
#include "core/plugin_host/component_registry.h"

namespace sy {

class Component {
 public:
  // Validates `config` against the component's schema and calls its create().
  static absl::StatusOr<std::shared_ptr<Component>> Create(const RegisteredComponent& component,
                                                           const ConfigValue& config);
  ~Component();
  Component(const Component&) = delete;
  Component& operator=(const Component&) = delete;

  sy_component_kind kind() const { return info_->kind; }
  const std::string& full_name() const { return info_->full_name; }
  const ComponentInfo& info() const { return *info_; }
  const PluginLibrary& library() const { return *library_; }
  const ConfigMessage& config() const { return *config_; }
  void* instance() const { return instance_; }
  const void* vtable() const { return info_->desc->vtable; }

 private:
  Component(std::shared_ptr<PluginLibrary> library, const ComponentInfo* info,
            std::shared_ptr<const ConfigMessage> config, void* instance)
      : library_(std::move(library)),
        info_(info),
        config_(std::move(config)),
        instance_(instance) {}

  std::shared_ptr<PluginLibrary> library_;
  const ComponentInfo* info_;
  std::shared_ptr<const ConfigMessage> config_;
  void* instance_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_COMPONENT_H_
