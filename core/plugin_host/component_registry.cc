#include "core/plugin_host/component_registry.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/install_layout.h"
#include "core/base/log.h"
#include "core/plugin_host/host_api.h"

namespace sy {

std::vector<std::string> DefaultPluginSearchPath() {
  std::vector<std::string> path;
  const std::string installed = InstalledPath(SY_PLUGIN_DIR_REL);
  if (!installed.empty()) path.push_back(installed);
  if (const char* env = std::getenv("SWITCHYARD_PLUGIN_PATH")) {
    for (absl::string_view dir : absl::StrSplit(env, ':', absl::SkipEmpty()))
      path.emplace_back(dir);
  }
  return path;
}

void ComponentRegistry::Discover(const std::vector<std::string>& search_path) {
  for (const std::string& dir : search_path) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files)
      LoadLibrary(file).IgnoreError();  // recorded in load_errors_
  }
}

absl::Status ComponentRegistry::LoadLibrary(const std::string& path) {
  const std::string canonical = std::filesystem::weakly_canonical(path).string();
  for (const auto& lib : libraries_) {
    if (lib->path() == canonical) return absl::OkStatus();  // the same file twice in the path
  }
  auto library = PluginLibrary::Open(canonical);
  if (!library.ok()) {
    load_errors_.push_back({canonical, std::string(library.status().message())});
    Log(LogLevel::kDebug, "plugins", absl::StrCat("skipped: ", library.status().message()));
    return library.status();
  }
  std::vector<std::string> duplicates;
  for (const ComponentInfo& info : (*library)->components()) {
    auto [it, inserted] = components_.try_emplace(
        info.full_name, RegisteredComponent{*library, &info, info.desc->score(HostApi())});
    if (!inserted) {
      duplicates.push_back(
          absl::StrCat(info.full_name, " (already provided by ", it->second.library->path(), ")"));
    }
  }
  libraries_.push_back(*std::move(library));
  if (duplicates.empty()) return absl::OkStatus();
  const std::string message = absl::StrCat(
      canonical, ": duplicate component names, skipped: ", absl::StrJoin(duplicates, ", "));
  load_errors_.push_back({canonical, message});
  Log(LogLevel::kDebug, "plugins", message);
  return absl::AlreadyExistsError(message);
}

absl::StatusOr<RegisteredComponent> ComponentRegistry::Find(absl::string_view full_name) const {
  const size_t dot = full_name.find('.');
  if (dot == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "component name '", full_name, "' must be KIND.NAME, e.g. router.softmax_topk"));
  }
  const absl::string_view kind = full_name.substr(0, dot);
  if (KindFromName(kind) == SY_KIND_INVALID) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown component kind '", kind,
                     "' (kinds: router, experts, comm, scheduler, quantizer)"));
  }
  if (full_name.substr(dot + 1) == "auto") {
    const RegisteredComponent* best = nullptr;
    for (const auto& [name, c] : components_) {
      if (KindName(c.info->kind) == kind && c.score > 0 &&
          (best == nullptr || c.score > best->score))
        best = &c;
    }
    if (best == nullptr)
      return absl::NotFoundError(absl::StrCat("no ", kind, " component can run here"));
    return *best;
  }
  auto it = components_.find(std::string(full_name));
  if (it == components_.end()) {
    std::vector<std::string> same_kind;
    for (const auto& [name, c] : components_) {
      if (KindName(c.info->kind) == kind) same_kind.push_back(name);
    }
    return absl::NotFoundError(absl::StrCat(
        "no component '", full_name,
        "' (available: ", same_kind.empty() ? "none" : absl::StrJoin(same_kind, ", "), ")"));
  }
  return it->second;
}

std::vector<RegisteredComponent> ComponentRegistry::List() const {
  std::vector<RegisteredComponent> list;
  for (const auto& [name, c] : components_) list.push_back(c);
  std::stable_sort(list.begin(), list.end(),
                   [](const auto& a, const auto& b) { return a.info->kind < b.info->kind; });
  return list;
}

}  // namespace sy
