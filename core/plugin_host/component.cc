#include "core/plugin_host/component.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {

absl::StatusOr<std::shared_ptr<Component>> Component::Create(const RegisteredComponent& component,
                                                             const ConfigValue& config) {
  const ComponentInfo& info = *component.info;
  SY_ASSIGN_OR_RETURN(std::shared_ptr<const ConfigMessage> message,
                      info.config.Build(config, info.full_name));
  void* instance = nullptr;
  SY_RETURN_IF_ERROR(TakePluginError(info.desc->create(HostApi(), message->c_message(), &instance),
                                     absl::StrCat(info.full_name, ": create failed")));
  if (instance == nullptr) {
    return absl::InternalError(
        absl::StrCat(info.full_name, ": create succeeded but returned no instance"));
  }
  return std::shared_ptr<Component>(
      new Component(component.library, &info, std::move(message), instance));
}

Component::~Component() { info_->desc->destroy(instance_); }

}  // namespace sy
