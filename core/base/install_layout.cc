#include "core/base/install_layout.h"

#include <filesystem>
#include <system_error>

namespace sy {

std::string InstalledPath(const std::string& relative) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (exe.parent_path().parent_path() / relative).string();
}

std::string BuiltinModelDir() { return InstalledPath("share/switchyard/models/pydoc-moe"); }

}  // namespace sy
