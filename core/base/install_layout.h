// Where the files installed beside the running executable live. The build tree and the install
// tree share one layout (bin/, lib/switchyard/plugins/, share/switchyard/{lua,models}/), so
// the same lookup works from either, and a relocated install keeps working.
#ifndef SWITCHYARD_CORE_BASE_INSTALL_LAYOUT_H_
#define SWITCHYARD_CORE_BASE_INSTALL_LAYOUT_H_

#include <string>

namespace sy {

// <exe>/../relative, from /proc/self/exe; empty if the executable's path cannot be read.
std::string InstalledPath(const std::string& relative);

// The built-in model's folder (share/switchyard/models/pydoc-moe), which `switchyard run`,
// `generate` and `serve` use when no model is named.
std::string BuiltinModelDir();

}  // namespace sy

#endif  // SWITCHYARD_CORE_BASE_INSTALL_LAYOUT_H_
