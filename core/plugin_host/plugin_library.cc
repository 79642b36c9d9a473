#include "core/plugin_host/plugin_library.h"

#include <cstddef>

#include <boost/dll/shared_library.hpp>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {
namespace {

// The sizes of the ABI structs as of the minor that introduced them. A plugin of any 1.x minor
// fills at least these; fields appended by later minors are read only when a struct's struct_size
// covers them.
constexpr size_t kPluginSizeV1 = sizeof(sy_plugin);
constexpr size_t kComponentDescSizeV1 = sizeof(sy_component_desc);
constexpr size_t kRouterVtableSizeV1 = sizeof(sy_router_vtable);
constexpr size_t kQuantizerVtableSizeV1 = sizeof(sy_quantizer_vtable);
constexpr size_t kExpertsVtableSizeV1 = offsetof(sy_experts_vtable, supports_activation);
constexpr size_t kSchedulerVtableSizeV2 = offsetof(sy_scheduler_vtable, place);
constexpr size_t kCommVtableSizeV3 = offsetof(sy_comm_vtable, peer_memory);

// The ABI minor whose vtable a kind first had (a plugin declaring an older minor cannot
// provide it).
uint32_t MinorIntroducing(sy_component_kind kind) {
  if (kind == SY_KIND_COMM) return 3;
  if (kind == SY_KIND_SCHEDULER) return 2;
  return kind == SY_KIND_QUANTIZER || kind == SY_KIND_EXPERTS ? 1 : 0;
}

// 0 for kinds whose interface this ABI does not define yet.
size_t MinimumVtableSize(sy_component_kind kind) {
  switch (kind) {
    case SY_KIND_ROUTER:
      return kRouterVtableSizeV1;
    case SY_KIND_QUANTIZER:
      return kQuantizerVtableSizeV1;
    case SY_KIND_EXPERTS:
      return kExpertsVtableSizeV1;
    case SY_KIND_SCHEDULER:
      return kSchedulerVtableSizeV2;
    case SY_KIND_COMM:
      return kCommVtableSizeV3;
    default:
      return 0;
  }
}

absl::Status CheckVtable(const sy_component_desc& desc, sy_component_kind kind) {
  const size_t minimum = MinimumVtableSize(kind);
  if (minimum == 0) {
    return absl::UnimplementedError(absl::StrCat("this host (ABI ", SY_ABI_MAJOR, ".", SY_ABI_MINOR,
                                                 ") has no interface for ", KindName(kind),
                                                 " components yet"));
  }
  if (desc.vtable == nullptr) return absl::InvalidArgumentError("has no vtable");
  // Every vtable starts with its struct_size.
  const uint32_t size = *static_cast<const uint32_t*>(desc.vtable);
  if (size < minimum) {
    return absl::InvalidArgumentError(absl::StrCat("vtable is ", size, " bytes, ABI ", SY_ABI_MAJOR,
                                                   ".", SY_ABI_MINOR, " needs ", minimum));
  }
  bool complete = true;
  if (kind == SY_KIND_ROUTER) {
    const auto* v = static_cast<const sy_router_vtable*>(desc.vtable);
    complete = v->top_k && v->route;
  } else if (kind == SY_KIND_QUANTIZER) {
    const auto* v = static_cast<const sy_quantizer_vtable*>(desc.vtable);
    complete =
        v->weight_layout && v->quantize_weight && v->activation_layout && v->quantize_activation;
  } else if (kind == SY_KIND_EXPERTS) {
    const auto* v = static_cast<const sy_experts_vtable*>(desc.vtable);
    complete = v->supports && v->forward;
  } else if (kind == SY_KIND_SCHEDULER) {
    // A batch scheduler, a placement scheduler (1.3), or both.
    const auto* v = static_cast<const sy_scheduler_vtable*>(desc.vtable);
    const bool has_place =
        size >= offsetof(sy_scheduler_vtable, place) + sizeof(v->place) && v->place != nullptr;
    complete = v->schedule != nullptr || has_place;
  } else if (kind == SY_KIND_COMM) {
    const auto* v = static_cast<const sy_comm_vtable*>(desc.vtable);
    complete = v->connect && v->all_to_all && v->all_reduce_sum;
  }
  if (!complete)
    return absl::InvalidArgumentError(absl::StrCat(KindName(kind), " vtable has NULL functions"));
  return absl::OkStatus();
}

}  // namespace

absl::string_view KindName(sy_component_kind kind) {
  switch (kind) {
    case SY_KIND_ROUTER:
      return "router";
    case SY_KIND_EXPERTS:
      return "experts";
    case SY_KIND_COMM:
      return "comm";
    case SY_KIND_SCHEDULER:
      return "scheduler";
    case SY_KIND_QUANTIZER:
      return "quantizer";
    default:
      return "invalid";
  }
}

sy_component_kind KindFromName(absl::string_view name) {
  for (sy_component_kind kind :
       {SY_KIND_ROUTER, SY_KIND_EXPERTS, SY_KIND_COMM, SY_KIND_SCHEDULER, SY_KIND_QUANTIZER}) {
    if (KindName(kind) == name) return kind;
  }
  return SY_KIND_INVALID;
}

PluginLibrary::~PluginLibrary() {
  components_.clear();
  schema_loader_.reset();
}

absl::StatusOr<std::shared_ptr<PluginLibrary>> PluginLibrary::Open(const std::string& path) {
  std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->path_ = path;
  lib->library_ = std::make_unique<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  lib->library_->load(path, ec,
                      boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec) {
    const char* reason = dlerror();
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a loadable shared library (",
                                                   reason ? reason : ec.message(), ")"));
  }
  if (!lib->library_->has(SY_PLUGIN_INIT_SYMBOL)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no ", SY_PLUGIN_INIT_SYMBOL, " symbol; not a Switchyard plugin"));
  }
  auto& init = lib->library_->get<const sy_plugin*(const sy_host*)>(SY_PLUGIN_INIT_SYMBOL);
  const sy_plugin* plugin = init(HostApi());
  if (plugin == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": ", SY_PLUGIN_INIT_SYMBOL, " returned NULL (the plugin failed to initialise)"));
  }
  if (plugin->abi_major != SY_ABI_MAJOR) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": plugin ABI ", plugin->abi_major, ".", plugin->abi_minor,
                     " is incompatible with the host's ABI ", SY_ABI_MAJOR, ".", SY_ABI_MINOR,
                     " (major versions differ; rebuild the plugin against this Switchyard)"));
  }
  if (plugin->abi_minor > SY_ABI_MINOR) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": plugin ABI ", plugin->abi_major, ".", plugin->abi_minor,
                     " is newer than the host's ABI ", SY_ABI_MAJOR, ".", SY_ABI_MINOR,
                     " (upgrade Switchyard or rebuild the plugin against this one)"));
  }
  if (plugin->struct_size < kPluginSizeV1 || plugin->name == nullptr ||
      plugin->version == nullptr ||
      (plugin->component_count > 0 && plugin->components == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed sy_plugin description"));
  }
  lib->name_ = plugin->name;
  lib->version_ = plugin->version;
  lib->abi_minor_ = plugin->abi_minor;
  SY_RETURN_IF_ERROR(lib->LoadComponents(*plugin));
  return lib;
}

absl::Status PluginLibrary::LoadComponents(const sy_plugin& plugin) {
  schema_loader_ = std::make_unique<capnp::SchemaLoader>();
  for (size_t i = 0; i < plugin.component_count; ++i) {
    const std::string where = absl::StrCat(path_, ": component #", i);
    if (plugin.components[i] == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(where, ": NULL descriptor"));
    const sy_component_desc& desc = *plugin.components[i];
    const auto kind = static_cast<sy_component_kind>(desc.kind);
    if (desc.struct_size < kComponentDescSizeV1) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": descriptor too small"));
    }
    if (KindName(kind) == "invalid") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown kind ", desc.kind));
    }
    if (desc.name == nullptr || desc.name[0] == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(where, ": has no name"));
    }
    const std::string full_name = absl::StrCat(KindName(kind), ".", desc.name);
    if (desc.create == nullptr || desc.destroy == nullptr || desc.score == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": ", full_name, ": NULL create, destroy or score"));
    }
    if (plugin.abi_minor < MinorIntroducing(kind)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": ", full_name, ": ", KindName(kind), " components need ABI 1.",
                       MinorIntroducing(kind), ", the plugin declares 1.", plugin.abi_minor));
    }
    if (auto s = CheckVtable(desc, kind); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path_, ": ", full_name, ": ", s.message()));
    }
    SY_ASSIGN_OR_RETURN(
        ConfigSchema config,
        ConfigSchema::Load(*schema_loader_, desc.config, absl::StrCat(path_, ": ", full_name)));
    components_.push_back(ComponentInfo{kind, desc.name, full_name,
                                        desc.description ? desc.description : "", &desc, config});
  }
  return absl::OkStatus();
}

}  // namespace sy
