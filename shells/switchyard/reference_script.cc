#include "shells/switchyard/reference_script.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/base/install_layout.h"

namespace sy::cli {

std::string ReferenceScript(const std::string& name) {
  std::vector<std::filesystem::path> dirs;
  if (const char* dir = std::getenv("SWITCHYARD_REFERENCE_DIR")) dirs.emplace_back(dir);
  if (const std::string installed = InstalledPath("share/switchyard/reference"); !installed.empty())
    dirs.emplace_back(installed);
  dirs.emplace_back(std::filesystem::path(SY_SOURCE_DIR) / "scripts" / "reference");
  std::error_code ec;
  for (const auto& dir : dirs) {
    if (std::filesystem::exists(dir / name, ec)) return (dir / name).string();
  }
  return "";
}

}  // namespace sy::cli
